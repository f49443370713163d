/**
 * The schedules endpoints of the API: `schedules.create`, `.update`, `.get`, `.list`,
 * `.pause`, `.resume` and `.delete`, answered by any replica from its mirror of the schedules
 * bucket (reads) or with compare-and-set writes (changes).
 */
import type { ListSchedulesReply, ScheduleReply, Subjects } from "../protocol/index.ts";
import {
  DroverError,
  ErrorCode,
  ListSchedulesRequest,
  PutScheduleRequest,
  ScheduleIdRequest,
} from "../protocol/index.ts";
import type { ApiDecode, ApiHandler } from "./api.ts";
import type { ScheduleStore } from "./schedule-store.ts";

export interface SchedulesApiDeps {
  subjects: Subjects;
  schedules: ScheduleStore;
}

export function scheduleRoutes(d: SchedulesApiDeps, decode: ApiDecode): [string, ApiHandler][] {
  const api = d.subjects.api.schedules;
  const one = (s: ScheduleReply["schedule"]): ScheduleReply => ({ ok: true, schedule: s });
  return [
    [api.create, async (data) => one(await d.schedules.create(decode(PutScheduleRequest, data)))],
    [api.update, async (data) => one(await d.schedules.update(decode(PutScheduleRequest, data)))],
    [
      api.get,
      async (data) => {
        const { id } = decode(ScheduleIdRequest, data);
        // A read, not the mirror: a get right after a change sees it, whichever replica answers.
        const s = await d.schedules.read(id);
        if (s === null) throw new DroverError(ErrorCode.NotFound, `schedule ${id} not found`);
        return one(s.record);
      },
    ],
    [
      api.list,
      (data): Promise<ListSchedulesReply> => {
        decode(ListSchedulesRequest, data);
        return Promise.resolve({ ok: true, schedules: d.schedules.all() });
      },
    ],
    [
      api.pause,
      async (data) => one(await d.schedules.setPaused(decode(ScheduleIdRequest, data).id, true)),
    ],
    [
      api.resume,
      async (data) => one(await d.schedules.setPaused(decode(ScheduleIdRequest, data).id, false)),
    ],
    [
      api.delete,
      async (data) => {
        await d.schedules.delete(decode(ScheduleIdRequest, data).id);
        return { ok: true, deleted: true };
      },
    ],
  ];
}
