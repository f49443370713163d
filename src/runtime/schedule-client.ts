/**
 * The client's schedules (`client.schedules`): create, update, get, list, pause, resume and
 * delete recurring schedules over `drover.api.schedules.*`.
 */
import type { z } from "zod";
import type { ApiSubjects, PutScheduleRequestInput, ScheduleRecord } from "../protocol/index.ts";
import { DeleteScheduleReply, ListSchedulesReply, ScheduleReply } from "../protocol/index.ts";

/** Sends one API request and decodes its reply (the client's). */
export type ApiRequest = <S extends z.ZodType>(
  subject: string,
  body: unknown,
  schema: S,
) => Promise<z.output<S>>;

export class ScheduleClient {
  readonly #api: ApiSubjects["schedules"];
  readonly #request: ApiRequest;

  constructor(api: ApiSubjects["schedules"], request: ApiRequest) {
    this.#api = api;
    this.#request = request;
  }

  /** Creates a schedule; `conflict` when its id is taken. */
  async create(req: PutScheduleRequestInput): Promise<ScheduleRecord> {
    return (await this.#request(this.#api.create, req, ScheduleReply)).schedule;
  }

  /** Replaces a schedule's spec, keeping what it fired. */
  async update(req: PutScheduleRequestInput): Promise<ScheduleRecord> {
    return (await this.#request(this.#api.update, req, ScheduleReply)).schedule;
  }

  async get(id: string): Promise<ScheduleRecord> {
    return (await this.#request(this.#api.get, { id }, ScheduleReply)).schedule;
  }

  /** Every schedule, by id, with its last and next fire. */
  async list(): Promise<ScheduleRecord[]> {
    return (await this.#request(this.#api.list, {}, ListSchedulesReply)).schedules;
  }

  async pause(id: string): Promise<ScheduleRecord> {
    return (await this.#request(this.#api.pause, { id }, ScheduleReply)).schedule;
  }

  /** Resumes a paused schedule; ticks it missed meanwhile follow its catch-up policy. */
  async resume(id: string): Promise<ScheduleRecord> {
    return (await this.#request(this.#api.resume, { id }, ScheduleReply)).schedule;
  }

  /** Deletes a schedule (the tasks it submitted are not touched). */
  async delete(id: string): Promise<void> {
    await this.#request(this.#api.delete, { id }, DeleteScheduleReply);
  }
}
