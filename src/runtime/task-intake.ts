/**
 * Accepting tasks: a submit's idempotency key, the task store's capacity, the record's create,
 * and a batch's tasks a few at a time. The API decodes and admits a request; this writes it.
 */
import type { KV } from "@nats-io/kv";
import { nuid } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { SubmitManyReply, SubmitTaskRequest } from "../protocol/index.ts";
import { DroverError, encode, ErrorCode, errorReply, newTaskRecord } from "../protocol/index.ts";
import type { CapacityGate } from "./capacity.ts";
import { storeFullError } from "./capacity.ts";
import { idempotencyEntryKey, parseIdempotencyEntry } from "./idempotency.ts";
import { isRevisionConflict, isStoreFull, retryTransient } from "./kv-util.ts";
import { rateLimited } from "./log-limit.ts";
import type { TaskStore } from "./task-store.ts";

/** The tasks of one batch submit written at once. */
const BATCH_WRITES_AT_ONCE = 64;

/** What a submit answers. */
export interface Accepted {
  ok: true;
  id: string;
  duplicate: boolean;
}

export interface TaskIntakeDeps {
  store: TaskStore;
  idempotencyKv: KV;
  log: Logger;
  /** Refuses submits while the task store is (nearly) full. @default no check */
  capacity?: CapacityGate;
}

export class TaskIntake {
  readonly #d: TaskIntakeDeps;
  readonly #fullLog = rateLimited(10_000);

  constructor(deps: TaskIntakeDeps) {
    this.#d = deps;
  }

  /**
   * Accepts each of `tasks` as {@link accept} would, a few at a time (so that many large batches
   * at once do not put hundreds of thousands of writes in flight), each `size` bytes of the
   * request; one result per task, in order, a refusal as its error reply.
   */
  async acceptMany(
    tasks: readonly SubmitTaskRequest[],
    size: number,
    submitter: string | null,
  ): Promise<SubmitManyReply["results"]> {
    const results = new Array<SubmitManyReply["results"][number]>(tasks.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(tasks.length, BATCH_WRITES_AT_ONCE) }, async () => {
        while (next < tasks.length) {
          const i = next++;
          try {
            results[i] = await this.accept(tasks[i]!, size, submitter);
          } catch (err) {
            if (!(err instanceof DroverError))
              this.#d.log.error({ err }, "a task of a batch submit failed");
            results[i] = errorReply(err);
          }
        }
      }),
    );
    return results;
  }

  /**
   * Accepts one task: answered once its record is durable. A full task store is one line in the
   * log now and then, not one per refused submit.
   */
  async accept(req: SubmitTaskRequest, size: number, submitter: string | null): Promise<Accepted> {
    try {
      return await this.#create(req, size, submitter);
    } catch (err) {
      if (
        !(err instanceof DroverError && err.code === ErrorCode.CapacityExhausted) &&
        !isStoreFull(err)
      )
        throw err;
      // One line now and then, not one per refused request: a full store refuses thousands.
      this.#fullLog((n) => this.#d.log.warn({ refused: n }, "task store full: refusing submits"));
      if (err instanceof DroverError) throw err;
      this.#d.capacity?.invalidate();
      throw storeFullError();
    }
  }

  async #create(req: SubmitTaskRequest, size: number, submitter: string | null): Promise<Accepted> {
    const now = Date.now();
    let id = nuid.next();
    if (req.idempotencyKey !== undefined) {
      const key = idempotencyEntryKey(req.idempotencyKey);
      try {
        await retryTransient(() => this.#d.idempotencyKv.create(key, encode({ id, at: now })), {
          onRetry: (err) =>
            this.#d.log.warn(
              { err: (err as Error).message, idempotencyKey: req.idempotencyKey },
              "idempotency key write failed; retrying",
            ),
        });
      } catch (err) {
        if (!isRevisionConflict(err)) throw err;
        const prior = await this.#d.idempotencyKv.get(key);
        const entry = prior?.operation === "PUT" ? parseIdempotencyEntry(prior.value) : null;
        if (entry === null)
          throw new DroverError(ErrorCode.Conflict, "idempotency key is being written; retry", {
            retryable: true,
          });
        // Finished (its record may have expired since): the same answer, and nothing runs again.
        if (entry.finishedAt !== undefined || (await this.#d.store.get(entry.id)) !== null)
          return { ok: true, id: entry.id, duplicate: true };
        // The first submit died between the two writes: finish its work under its id.
        id = entry.id;
      }
    }
    // Checked after the idempotency key, so a retried submit of an accepted task is answered
    // even when the store is full. (A key left without its task by a refusal here is finished
    // by the next submit with it, as if the first had died between the two writes.) The record
    // is the request plus about a kilobyte of bookkeeping.
    await this.#d.capacity?.check(size + 1_024);
    try {
      await this.#d.store.create(newTaskRecord(id, req, now, submitter));
    } catch (err) {
      if (
        err instanceof DroverError &&
        err.code === ErrorCode.Conflict &&
        req.idempotencyKey !== undefined
      )
        return { ok: true, id, duplicate: true };
      throw err;
    }
    return { ok: true, id, duplicate: false };
  }
}
