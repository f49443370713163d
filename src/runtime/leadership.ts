/**
 * Leader election over a KV lease. The lease is one key in the leader bucket (whose TTL
 * expires it): `create` acquires it and the created revision is the leader's **term**;
 * `update` with the last revision renews it; a deleted or expired key (DEL / PURGE marker on
 * the watch) lets followers race to create it. The pure scheduler machine decides; this
 * class performs the KV calls and feeds it the outcomes.
 *
 * The watch is the fast path, not the only one: an ordered consumer that is re-created after a
 * NATS node dies resumes after the last message it saw, and the expiry marker may be gone by
 * then (markers have their own TTL). So a replica that has seen no lease write for 1.5 TTL
 * reads the key, and competes if it is free. Without this, a lost marker would leave the
 * cluster without a leader (the chaos suite once saw two minutes of it).
 */
import type { KV } from "@nats-io/kv";
import type { Logger } from "pino";
import type { SchedulerEvent, SchedulerSnapshot } from "../actors/index.ts";
import {
  applySchedulerEvent,
  initialSchedulerSnapshot,
  isLeader,
  leaseExpired,
} from "../actors/index.ts";
import { encode } from "../protocol/index.ts";
import { monotonicMs } from "./clock.ts";
import { isRevisionConflict } from "./kv-util.ts";

const LEASE_KEY = "lease";

export interface LeadershipOptions {
  kv: KV;
  replicaId: string;
  /**
   * The lease TTL this replica is configured with. It holds the lease with the leader bucket's
   * TTL when that is shorter (read at start and every 5 s), never longer than the server keeps it.
   */
  leaseTtlMs: number;
  log: Logger;
  onElected(term: number): Promise<void> | void;
  onDeposed(reason: string): Promise<void> | void;
  /** Told after every accepted change of the election state (the lease thread mirrors it). */
  onChange?(): void;
  /**
   * Asked before every renewal and acquisition: false lets the lease lapse (the lease thread's
   * watchdog, when the thread that schedules has stopped answering). @default always true
   */
  mayLead?(): boolean;
}

export class Leadership {
  #snap: SchedulerSnapshot;
  readonly #o: LeadershipOptions;
  #renewTimer: NodeJS.Timeout | null = null;
  #watch: { stop(): void } | null = null;
  #acquiring = false;
  #stopped = false;
  #backstopTimer: NodeJS.Timeout | null = null;
  /** The leader bucket's TTL as last read (0: none or not read yet). */
  #bucketTtlMs = 0;
  #ttlTimer: NodeJS.Timeout | null = null;
  /** When the last lease write (anyone's) was seen on the watch. */
  #leaseSeenAt = monotonicMs();

  constructor(o: LeadershipOptions) {
    this.#o = o;
    this.#snap = initialSchedulerSnapshot({ replicaId: o.replicaId, leaseTtlMs: o.leaseTtlMs });
  }

  get state(): string {
    return String(this.#snap.value);
  }
  get term(): number | null {
    return this.#snap.context.term;
  }
  get leaderId(): string | null {
    return this.#snap.context.leaderId;
  }

  /** The TTL the lease is held with: the configured one, or the bucket's when shorter. */
  get #ttl(): number {
    return this.#snap.context.leaseTtlMs;
  }

  /** Renewals every quarter TTL; the leader stops assigning once a quarter TTL is left. */
  get #margin(): number {
    return this.#ttl / 4;
  }

  /** True while this replica leads and its lease has certainly not lapsed. */
  valid(): boolean {
    return isLeader(this.#snap) && !leaseExpired(this.#snap.context, monotonicMs(), this.#margin);
  }

  /**
   * The time on the monotonic clock (`monotonicMs`) until which {@link valid} holds without a
   * further renewal; 0 when not leading.
   */
  validUntil(): number {
    const { lastRenewedAt } = this.#snap.context;
    if (!isLeader(this.#snap) || lastRenewedAt === null) return 0;
    return lastRenewedAt + this.#ttl - this.#margin;
  }

  #send(event: SchedulerEvent): boolean {
    const res = applySchedulerEvent(this.#snap, event);
    if (!res.ok) {
      this.#o.log.debug({ event: event.type, reason: res.reason }, "leadership event refused");
      return false;
    }
    this.#snap = res.snapshot;
    this.#o.onChange?.();
    return true;
  }

  async start(): Promise<void> {
    await this.#readBucketTtl();
    this.#ttlTimer = setInterval(() => void this.#readBucketTtl().catch(() => undefined), 5_000);
    const iter = await this.#o.kv.watch({ key: LEASE_KEY });
    this.#watch = iter;
    void (async () => {
      for await (const e of iter) {
        if (this.#stopped) break;
        this.#leaseSeenAt = monotonicMs();
        if (e.operation === "PUT") {
          const leaderId = (() => {
            try {
              return (e.json<{ replicaId?: string }>().replicaId ?? "?").toString();
            } catch {
              return "?";
            }
          })();
          if (leaderId !== this.#o.replicaId)
            this.#send({ type: "OBSERVED_LEADER", at: monotonicMs(), leaderId });
        } else {
          void this.#tryAcquire();
        }
      }
    })().catch((err: unknown) => this.#o.log.error({ err }, "lease watch ended"));
    this.#backstopTimer = setInterval(() => void this.#backstop(), this.#o.leaseTtlMs / 2);
    const current = await this.#o.kv.get(LEASE_KEY);
    if (current === null || current.operation !== "PUT") await this.#tryAcquire();
  }

  /** Reads the lease when the watch has been silent for too long (see the file comment). */
  async #backstop(): Promise<void> {
    if (this.#stopped || this.#acquiring || isLeader(this.#snap)) return;
    if (monotonicMs() - this.#leaseSeenAt < this.#o.leaseTtlMs * 1.5) return;
    const current = await this.#o.kv.get(LEASE_KEY).catch(() => undefined);
    if (current === undefined || (current !== null && current.operation === "PUT")) return;
    this.#o.log.warn("lease is free but its expiry was not seen on the watch; competing");
    await this.#tryAcquire();
  }

  async #tryAcquire(): Promise<void> {
    if (this.#acquiring || this.#stopped || isLeader(this.#snap)) return;
    if (this.#o.mayLead?.() === false) return;
    this.#acquiring = true;
    try {
      if (!this.#send({ type: "LEASE_FREE", at: monotonicMs() })) return;
      try {
        const leaseTtlMs = this.#heldTtl();
        const sentAt = monotonicMs();
        const revision = await this.#o.kv.create(
          LEASE_KEY,
          encode({ replicaId: this.#o.replicaId, since: Date.now() }),
        );
        if (!this.#send({ type: "ACQUIRED", at: sentAt, term: revision, revision, leaseTtlMs }))
          return;
        this.#o.log.info({ term: revision }, "elected leader");
        this.#scheduleRenew();
        await this.#o.onElected(revision);
      } catch (err) {
        const leaderId = isRevisionConflict(err) ? "other" : "unknown";
        if (!isRevisionConflict(err)) this.#o.log.warn({ err }, "lease acquisition failed");
        this.#send({ type: "ACQUIRE_FAILED", at: monotonicMs(), leaderId });
      }
    } finally {
      this.#acquiring = false;
    }
  }

  /**
   * The TTL to hold the next lease with: the configured one, or the leader bucket's if that
   * is shorter (someone lowered it), since the server expires the key by the bucket's. The
   * bucket's is read at start and every few seconds after, off the path of an election.
   */
  #heldTtl(): number {
    const ttl = this.#bucketTtlMs;
    return ttl > 0 ? Math.min(ttl, this.#o.leaseTtlMs) : this.#o.leaseTtlMs;
  }

  async #readBucketTtl(): Promise<void> {
    const { ttl } = await this.#o.kv.status();
    this.#bucketTtlMs = ttl;
  }

  #scheduleRenew(): void {
    if (this.#renewTimer !== null) clearTimeout(this.#renewTimer);
    this.#renewTimer = setTimeout(() => void this.#renew(), this.#ttl / 4);
  }

  async #renew(): Promise<void> {
    this.#renewTimer = null;
    if (!isLeader(this.#snap) || this.#stopped) return;
    if (leaseExpired(this.#snap.context, monotonicMs(), 0))
      return this.#lose("lease lapsed before it could be renewed");
    if (this.#o.mayLead?.() === false)
      return this.#lose("the scheduling thread stopped answering; letting the lease go");
    const { leaseRevision, term } = this.#snap.context;
    const sentAt = monotonicMs();
    try {
      const revision = await this.#o.kv.update(
        LEASE_KEY,
        encode({ replicaId: this.#o.replicaId, term }),
        leaseRevision ?? 0,
        this.#ttl / 2,
      );
      // Measured from when the request was sent: the server may have applied it any time after.
      this.#send({ type: "RENEWED", at: sentAt, revision });
      this.#scheduleRenew();
    } catch (err) {
      if (isRevisionConflict(err)) return this.#lose("lease taken over (revision moved)");
      this.#o.log.warn({ err: (err as Error).message }, "lease renewal failed; retrying");
      if (leaseExpired(this.#snap.context, monotonicMs(), this.#margin))
        return this.#lose("lease could not be renewed in time");
      this.#scheduleRenew();
    }
  }

  async #lose(reason: string): Promise<void> {
    if (!this.#send({ type: "LEASE_LOST", at: monotonicMs(), reason })) return;
    this.#o.log.warn({ reason }, "lost leadership");
    await this.#o.onDeposed(reason);
    // The key may already be free (expired while we were paused): compete again.
    const current = await this.#o.kv.get(LEASE_KEY).catch(() => null);
    if (current === null || current.operation !== "PUT") void this.#tryAcquire();
  }

  /** Gives the lease up at once (graceful handover): followers see the DEL and take over. */
  async resign(): Promise<void> {
    if (!isLeader(this.#snap)) return;
    const rev = this.#snap.context.leaseRevision;
    if (this.#renewTimer !== null) clearTimeout(this.#renewTimer);
    this.#renewTimer = null;
    this.#send({ type: "RESIGN", at: monotonicMs() });
    // onDeposed stops assigning synchronously (before its first await); the lease can be
    // released at once, and in-flight work (all compare-and-set) drains meanwhile.
    const deposed = Promise.resolve(this.#o.onDeposed("resigned"));
    await this.#o.kv
      .delete(LEASE_KEY, rev === null ? {} : { previousSeq: rev })
      .catch((err: unknown) => this.#o.log.warn({ err }, "lease delete failed"));
    await deposed;
  }

  async stop(): Promise<void> {
    await this.resign();
    this.#stopped = true;
    this.#send({ type: "STOP", at: monotonicMs() });
    if (this.#renewTimer !== null) clearTimeout(this.#renewTimer);
    if (this.#backstopTimer !== null) clearInterval(this.#backstopTimer);
    if (this.#ttlTimer !== null) clearInterval(this.#ttlTimer);
    this.#watch?.stop();
  }
}
