/**
 * The workers endpoints of the API: `workers.list` (each live worker's heartbeat and what its
 * tasks use) and `workers.drain` (an admin asks a live worker to drain).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import type { Resources, Subjects, WorkerView } from "../protocol/index.ts";
import {
  decode,
  DrainWorkerReply,
  DrainWorkerRequest,
  DroverError,
  encode,
  ErrorCode,
  ErrorReply,
  ListWorkersRequest,
} from "../protocol/index.ts";
import type { ApiDecode, ApiHandler } from "./api.ts";
import type { Mirror } from "./mirror.ts";

export interface WorkersApiDeps {
  nc: NatsConnection;
  subjects: Subjects;
  mirror: Mirror;
}

/** Every live worker, by id, with the resources its tasks hold (from this replica's mirror). */
export function listWorkers(mirror: Mirror): WorkerView[] {
  const workers = [...mirror.workers.values()].map(({ info }) => {
    let used: Resources = { cpu: 0, memoryMb: 0, slots: 0 };
    for (const id of mirror.byWorker.get(info.id) ?? []) {
      const r = mirror.tasks.get(id)?.resources;
      if (r !== undefined)
        used = {
          cpu: used.cpu + r.cpu,
          memoryMb: used.memoryMb + r.memoryMb,
          slots: used.slots + r.slots,
        };
    }
    return { ...info, used };
  });
  workers.sort((a, b) => (a.id < b.id ? -1 : 1));
  return workers;
}

/**
 * Asks a live worker to drain: it takes no new work, lets running tasks finish within the
 * grace period, hands back the rest and stops. Answered once the worker has begun.
 */
async function drainWorker(d: WorkersApiDeps, req: DrainWorkerRequest): Promise<DrainWorkerReply> {
  if (!d.mirror.workers.has(req.workerId))
    throw new DroverError(ErrorCode.NotFound, `worker ${req.workerId} is not live`);
  const notice = { v: 1, ...(req.graceMs !== undefined ? { graceMs: req.graceMs } : {}) };
  let reply;
  try {
    reply = await d.nc.request(d.subjects.workerDrain(req.workerId), encode(notice), {
      timeout: 3_000,
    });
  } catch (err) {
    throw new DroverError(
      ErrorCode.Unavailable,
      `worker ${req.workerId} did not answer the drain request (${(err as Error).message}); it may be of an older version, or busy: retry, or stop its process with SIGTERM`,
      { retryable: true },
    );
  }
  const answer = decode(z.union([DrainWorkerReply, ErrorReply]), reply.data);
  if (!answer.ok) throw new DroverError(answer.error.code, answer.error.message);
  return answer;
}

export function workerRoutes(d: WorkersApiDeps, decode: ApiDecode): [string, ApiHandler][] {
  const api = d.subjects.api;
  return [
    [
      api.workers,
      (data) => {
        decode(ListWorkersRequest, data);
        return Promise.resolve({ ok: true, workers: listWorkers(d.mirror) });
      },
    ],
    [api.drain, (data) => drainWorker(d, decode(DrainWorkerRequest, data))],
  ];
}
