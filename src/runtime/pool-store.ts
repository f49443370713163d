/**
 * The pools bucket, mirrored: every pool's policy (`policy.<pool>`) and the leader's last scale
 * decision for it (`scale.<pool>`), kept current by a watch, with the writes that change them.
 * A decision is written only over one of the same or an older term, so a deposed leader
 * cannot undo its successor's.
 */
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { Logger } from "pino";
import type { PoolPolicy, ScaleDecision, SetPoolRequest } from "../protocol/index.ts";
import {
  decode,
  encode,
  PoolPolicy as PoolPolicySchema,
  poolKeys,
  ScaleDecision as ScaleDecisionSchema,
} from "../protocol/index.ts";
import { isRevisionConflict, watchForever } from "./kv-util.ts";

export class PoolStore {
  readonly policies = new Map<string, PoolPolicy>();
  readonly decisions = new Map<string, { decision: ScaleDecision; revision: number }>();
  readonly #kv: KV;
  readonly #log: Logger;
  readonly #listeners = new Set<() => void>();
  #watch: { stop(): void } | null = null;

  constructor(kv: KV, log: Logger) {
    this.#kv = kv;
    this.#log = log;
  }

  /** Resolves once every current policy and decision is held. */
  async start(): Promise<void> {
    const watch = watchForever(
      this.#kv,
      (e) => this.#onEntry(e),
      (err) => this.#log.warn({ err: err.message }, "pools watch failed"),
    );
    this.#watch = watch;
    await watch.caughtUp;
  }

  stop(): void {
    this.#watch?.stop();
  }

  /** Calls `l` after every change of a policy or decision; returns the unsubscribe. */
  onChange(l: () => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  #onEntry(e: KvWatchEntry): void {
    const [kind, pool] = splitKey(e.key);
    if (pool === undefined) return;
    const gone = e.operation !== "PUT";
    try {
      if (kind === "policy") {
        if (gone) this.policies.delete(pool);
        else this.policies.set(pool, decode(PoolPolicySchema, e.value));
      } else if (kind === "scale") {
        if (gone) this.decisions.delete(pool);
        else
          this.decisions.set(pool, {
            decision: decode(ScaleDecisionSchema, e.value),
            revision: e.revision,
          });
      }
    } catch (err) {
      this.#log.warn({ key: e.key, err: (err as Error).message }, "pools entry fails its schema");
      return;
    }
    for (const l of this.#listeners) l();
  }

  /** Creates or replaces a pool's policy. */
  async setPolicy(req: SetPoolRequest, now = Date.now()): Promise<PoolPolicy> {
    const policy: PoolPolicy = {
      v: 1,
      pool: req.pool,
      template: req.template,
      scale: req.scale,
      updatedAt: now,
    };
    await this.#kv.put(poolKeys.policy(req.pool), encode(policy));
    return policy;
  }

  /** Deletes a pool's policy and its last decision; false when there was no policy. */
  async deletePolicy(pool: string): Promise<boolean> {
    const existed = (await this.#kv.get(poolKeys.policy(pool)))?.operation === "PUT";
    if (!existed) return false;
    await this.#kv.delete(poolKeys.policy(pool));
    await this.#kv.delete(poolKeys.decision(pool));
    return existed;
  }

  /**
   * Writes a decision unless the stored one is of a newer term (then returns false). Compare-
   * and-set on the revision read, so two leaders cannot interleave.
   */
  async writeDecision(d: ScaleDecision): Promise<boolean> {
    const key = poolKeys.decision(d.pool);
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await this.#kv.get(key);
      if (cur !== null && cur.operation === "PUT") {
        const stored = decode(ScaleDecisionSchema, cur.value);
        if (stored.term > d.term) return false;
      }
      try {
        if (cur === null) await this.#kv.create(key, encode(d));
        else await this.#kv.update(key, encode(d), cur.revision);
        return true;
      } catch (err) {
        if (!isRevisionConflict(err)) throw err;
      }
    }
    return false;
  }
}

function splitKey(key: string): [string, string | undefined] {
  const i = key.indexOf(".");
  return i < 0 ? [key, undefined] : [key.slice(0, i), key.slice(i + 1)];
}
