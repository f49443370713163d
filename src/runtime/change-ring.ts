/**
 * The ids of the tasks whose records changed lately, as a replica's mirror saw them: a ring of
 * fixed size, so it costs the same at any load. A newly elected leader re-publishes the last
 * state change of each (see `SchedulerReplica`): what the old leader wrote just before it died
 * may never have reached the events stream.
 */
export class ChangeRing {
  readonly #ids: (string | undefined)[];
  readonly #at: Float64Array;
  #next = 0;

  constructor(capacity = 65_536) {
    this.#ids = new Array<string | undefined>(capacity);
    this.#at = new Float64Array(capacity);
  }

  /** Records that `id` changed at `at` (a monotonic time). */
  note(id: string, at: number): void {
    this.#ids[this.#next] = id;
    this.#at[this.#next] = at;
    this.#next = (this.#next + 1) % this.#ids.length;
  }

  /** The distinct ids noted at or after `since`, most recent first. */
  since(since: number): string[] {
    const out = new Set<string>();
    const n = this.#ids.length;
    for (let k = 1; k <= n; k++) {
      const i = (this.#next - k + n) % n;
      const id = this.#ids[i];
      if (id === undefined || this.#at[i]! < since) break;
      out.add(id);
    }
    return [...out];
  }
}
