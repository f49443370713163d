/**
 * JSON Schema export of every wire schema, for clients in other languages.
 */
import { z } from "zod";
import { ErrorReply, Issue } from "./errors.ts";
import { Resources } from "./resources.ts";
import {
  CancelTaskRequest,
  GetTaskRequest,
  ListTasksReply,
  ListTasksRequest,
  RetryPolicy,
  RetryTaskRequest,
  SubmitManyReply,
  SubmitManyRequest,
  SubmitTaskReply,
  SubmitTaskRequest,
  TaskRecord,
  TaskReply,
} from "./task.ts";
import {
  DrainNotice,
  DrainWorkerReply,
  DrainWorkerRequest,
  ListWorkersReply,
  ListWorkersRequest,
  WorkerInfo,
} from "./worker.ts";
import { Assignment, AssignmentReply, CancelNotice } from "./assignment.ts";
import { Report } from "./report.ts";
import { TaskTransitionEvent } from "./events.ts";
import { HealthReply, HealthRequest } from "./health.ts";
import {
  DeletePoolReply,
  DeletePoolRequest,
  ListPoolsReply,
  ListPoolsRequest,
  PoolPolicy,
  ScaleDecision,
  SetPoolReply,
  SetPoolRequest,
} from "./pools.ts";
import {
  DeleteScheduleReply,
  ListSchedulesReply,
  ListSchedulesRequest,
  PutScheduleRequest,
  ScheduleIdRequest,
  ScheduleRecord,
  ScheduleReply,
} from "./schedule.ts";

/** Every exported wire schema, by stable name. */
export const wireSchemas = {
  SubmitTaskRequest,
  SubmitTaskReply,
  SubmitManyRequest,
  SubmitManyReply,
  GetTaskRequest,
  CancelTaskRequest,
  RetryTaskRequest,
  TaskReply,
  ListTasksRequest,
  ListTasksReply,
  ListWorkersRequest,
  ListWorkersReply,
  DrainWorkerRequest,
  DrainWorkerReply,
  DrainNotice,
  HealthRequest,
  HealthReply,
  ListPoolsRequest,
  ListPoolsReply,
  SetPoolRequest,
  SetPoolReply,
  DeletePoolRequest,
  DeletePoolReply,
  PoolPolicy,
  ScaleDecision,
  PutScheduleRequest,
  ScheduleIdRequest,
  ListSchedulesRequest,
  ScheduleReply,
  ListSchedulesReply,
  DeleteScheduleReply,
  ScheduleRecord,
  ErrorReply,
  Issue,
  Resources,
  RetryPolicy,
  TaskRecord,
  WorkerInfo,
  Assignment,
  AssignmentReply,
  CancelNotice,
  Report,
  TaskTransitionEvent,
} as const satisfies Record<string, z.ZodType>;

/**
 * JSON Schemas (draft 2020-12) of every request, reply, message and record, keyed by
 * name (e.g. `"SubmitTaskRequest"`). Input side: defaulted fields are optional.
 */
export function jsonSchemas(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(wireSchemas)) {
    out[name] = { title: name, ...z.toJSONSchema(schema, { io: "input" }) };
  }
  return out;
}
