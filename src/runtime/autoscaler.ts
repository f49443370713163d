/**
 * The leader's autoscaler: once a second while it leads, it measures every pool's demand and
 * feeds it to the pool's autoscaler machine (autoscaler-machine.ts). When a pool's desired
 * count changes, and once at the start of each term, it records the decision in the pools
 * bucket under its term and publishes it on `<prefix>.events.scale`. Drivers (the Docker
 * driver, KEDA through the metrics) act on the recorded decisions; a decision of an older term
 * than one already recorded is never written.
 *
 * Only pools with a policy are scaled. A new term starts each pool from the larger of its
 * ready workers and the last recorded decision, so it continues from what exists rather than
 * from zero.
 */
import type { Logger } from "pino";
import type { AutoscalerSnapshot, DemandResult } from "../actors/index.ts";
import { applyAutoscalerEvent, initialAutoscalerSnapshot } from "../actors/index.ts";
import type {
  PoolDemand,
  PoolPolicy,
  PoolTemplate,
  ScaleDecision,
  Subjects,
} from "../protocol/index.ts";
import { encode } from "../protocol/index.ts";
import type { EventOutbox } from "./event-outbox.ts";
import type { Mirror } from "./mirror.ts";
import type { PoolStore } from "./pool-store.ts";

export interface AutoscalerDeps {
  pools: PoolStore;
  mirror: Mirror;
  /** The leader's demand measurement (Scheduler.demand). */
  demand(
    templates: ReadonlyMap<string, PoolTemplate>,
    autoscaled: ReadonlySet<string>,
  ): DemandResult;
  events: EventOutbox;
  subjects: Subjects;
  log: Logger;
  /** How often demand is measured. @default 1000 */
  intervalMs?: number;
}

interface PoolActor {
  snapshot: AutoscalerSnapshot;
  policyAt: number;
  /** The desired count last recorded this term (null: none yet). */
  written: number | null;
}

export class Autoscaler {
  readonly #d: AutoscalerDeps;
  #term: number | null = null;
  #valid: () => boolean = () => false;
  #timer: NodeJS.Timeout | null = null;
  #actors = new Map<string, PoolActor>();
  #lastDemand: DemandResult | null = null;
  #busy = false;

  constructor(deps: AutoscalerDeps) {
    this.#d = deps;
  }

  /** Desired workers per pool (empty unless leading). */
  desired(): Map<string, number> {
    return new Map([...this.#actors].map(([pool, a]) => [pool, a.snapshot.context.desired]));
  }

  /** The last demand measured per pool (empty unless leading). */
  demand(): ReadonlyMap<string, PoolDemand> {
    return this.#term === null ? new Map() : (this.#lastDemand?.pools ?? new Map());
  }

  lead(term: number, valid: () => boolean): void {
    this.stepDown();
    this.#term = term;
    this.#valid = valid;
    this.#timer = setInterval(() => void this.#tick(), this.#d.intervalMs ?? 1_000);
    void this.#tick();
  }

  stepDown(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#term = null;
    this.#valid = () => false;
    this.#actors = new Map();
    this.#lastDemand = null;
  }

  /** Templates of the pools with a policy, and of pools only seen in live workers (metrics). */
  #templates(): Map<string, PoolTemplate> {
    const out = new Map<string, PoolTemplate>();
    for (const [pool, p] of this.#d.pools.policies) out.set(pool, p.template);
    const live = [...this.#d.mirror.workers.values()].sort((a, b) =>
      a.info.id < b.info.id ? -1 : 1,
    );
    for (const { info } of live)
      if (!out.has(info.pool))
        out.set(info.pool, { types: info.types, labels: info.labels, capacity: info.capacity });
    return out;
  }

  async #tick(): Promise<void> {
    const term = this.#term;
    if (term === null || this.#busy || !this.#valid()) return;
    this.#busy = true;
    try {
      const now = Date.now();
      const measured = this.#d.demand(this.#templates(), new Set(this.#d.pools.policies.keys()));
      this.#lastDemand = measured;
      const policies = this.#d.pools.policies;
      for (const pool of this.#actors.keys()) if (!policies.has(pool)) this.#actors.delete(pool);
      for (const [pool, policy] of policies) {
        const demand = measured.pools.get(pool);
        if (demand === undefined) continue;
        const actor = this.#actor(pool, policy, demand, now);
        if (policy.updatedAt !== actor.policyAt) {
          actor.snapshot = applyAutoscalerEvent(actor.snapshot, {
            type: "POLICY",
            at: now,
            policy: policy.scale,
          });
          actor.policyAt = policy.updatedAt;
        }
        actor.snapshot = applyAutoscalerEvent(actor.snapshot, { type: "DEMAND", at: now, demand });
        const c = actor.snapshot.context;
        if (c.desired === actor.written || c.last === null) continue;
        if (this.#term !== term || !this.#valid()) return;
        const decision: ScaleDecision = {
          v: 1,
          kind: "scale",
          pool,
          term,
          desired: c.desired,
          previous: actor.written ?? c.last.previous,
          recommended: c.last.recommended,
          reason: actor.written === null ? `term ${term}: ${c.last.reason}` : c.last.reason,
          demand,
          at: now,
        };
        if (await this.#d.pools.writeDecision(decision)) {
          actor.written = c.desired;
          this.#d.log.info(
            {
              pool,
              desired: c.desired,
              previous: decision.previous,
              term,
              reason: decision.reason,
            },
            "scale decision",
          );
          this.#d.events.publish(
            this.#d.subjects.event("scale"),
            encode(decision),
            `scale:${pool}:${term}:${now}`,
          );
        } else {
          this.#d.log.warn({ pool, term }, "a newer term's scale decision is recorded; not acting");
        }
      }
    } catch (err) {
      this.#d.log.warn({ err: (err as Error).message }, "autoscaler tick failed");
    } finally {
      this.#busy = false;
    }
  }

  #actor(pool: string, policy: PoolPolicy, demand: PoolDemand, now: number): PoolActor {
    const known = this.#actors.get(pool);
    if (known !== undefined) return known;
    const recorded = this.#d.pools.decisions.get(pool)?.decision.desired ?? 0;
    const actor: PoolActor = {
      snapshot: initialAutoscalerSnapshot({
        pool,
        policy: policy.scale,
        desired: Math.max(demand.ready, recorded),
        at: now,
      }),
      policyAt: policy.updatedAt,
      written: null,
    };
    this.#actors.set(pool, actor);
    return actor;
  }
}
