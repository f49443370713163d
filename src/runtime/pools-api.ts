/**
 * The pools endpoints of the API: `pools.list` (each pool's policy, live workers and the
 * leader's last decision, with its reasons), `pools.set` and `pools.delete`.
 */
import type { PoolStatus, Subjects } from "../protocol/index.ts";
import {
  DeletePoolRequest,
  DroverError,
  ErrorCode,
  ListPoolsRequest,
  SetPoolRequest,
} from "../protocol/index.ts";
import type { ApiDecode, ApiHandler } from "./api.ts";
import type { Mirror } from "./mirror.ts";
import type { PoolStore } from "./pool-store.ts";

export interface PoolsApiDeps {
  subjects: Subjects;
  pools: PoolStore;
  mirror: Mirror;
}

/** Every pool with a policy or a live worker, by name. */
export function listPools(d: Pick<PoolsApiDeps, "pools" | "mirror">): PoolStatus[] {
  const live = new Map<string, { ready: number; draining: number }>();
  for (const { info } of d.mirror.workers.values()) {
    const n = live.get(info.pool) ?? { ready: 0, draining: 0 };
    if (info.state === "ready") n.ready++;
    else n.draining++;
    live.set(info.pool, n);
  }
  const names = new Set([...d.pools.policies.keys(), ...live.keys()]);
  return [...names].sort().map((pool) => ({
    pool,
    policy: d.pools.policies.get(pool) ?? null,
    ready: live.get(pool)?.ready ?? 0,
    draining: live.get(pool)?.draining ?? 0,
    decision: d.pools.decisions.get(pool)?.decision ?? null,
  }));
}

export function poolRoutes(d: PoolsApiDeps, decode: ApiDecode): [string, ApiHandler][] {
  const api = d.subjects.api.pools;
  return [
    [
      api.list,
      (data) => {
        decode(ListPoolsRequest, data);
        return Promise.resolve({ ok: true, pools: listPools(d) });
      },
    ],
    [
      api.set,
      async (data) => {
        const req = decode(SetPoolRequest, data);
        return { ok: true, pool: await d.pools.setPolicy(req) };
      },
    ],
    [
      api.delete,
      async (data) => {
        const { pool } = decode(DeletePoolRequest, data);
        const deleted = await d.pools.deletePolicy(pool);
        if (!deleted) throw new DroverError(ErrorCode.NotFound, `pool ${pool} has no policy`);
        return { ok: true, deleted };
      },
    ],
  ];
}
