/**
 * A schedule's tick times: cron in a time zone (daylight-saving gaps and repeated hours in two
 * zones), intervals, single times, bounds, and independence from the host's own zone.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  checkScheduleSpec,
  countTicks,
  firstTick,
  tickAfter,
  tickAtOrBefore,
  tickJitter,
} from "../../src/actors/index.ts";
import type { ScheduleSpec, ScheduleSpecInput } from "../../src/protocol/index.ts";
import { DroverError, ScheduleSpec as SpecSchema } from "../../src/protocol/index.ts";

const spec = (o: Omit<ScheduleSpecInput, "task">): ScheduleSpec =>
  SpecSchema.parse({ task: { type: "echo" }, ...o });
const ms = (iso: string): number => Date.parse(iso);
const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

/** The next `n` ticks after `from`. */
function ticks(s: ScheduleSpec, from: string, n: number, createdAt = ms(from)): string[] {
  const out: string[] = [];
  let t: number | null = ms(from);
  for (let i = 0; i < n && t !== null; i++) {
    t = tickAfter(s, createdAt, t);
    if (t !== null) out.push(iso(t)!);
  }
  return out;
}

describe("cron ticks across daylight-saving changes", () => {
  it("America/New_York, spring forward: 02:30 does not exist on 8 March; it fires once, at 03:00 EDT", () => {
    expect(
      ticks(spec({ cron: "30 2 * * *", timezone: "America/New_York" }), "2026-03-06T12:00:00Z", 3),
    ).toEqual([
      "2026-03-07T07:30:00.000Z", // 02:30 EST
      "2026-03-08T07:00:00.000Z", // the gap: 03:00 EDT, once
      "2026-03-09T06:30:00.000Z", // 02:30 EDT
    ]);
  });

  it("America/New_York, fall back: 01:30 happens twice on 1 November; a daily run fires once", () => {
    expect(
      ticks(spec({ cron: "30 1 * * *", timezone: "America/New_York" }), "2026-10-30T12:00:00Z", 3),
    ).toEqual([
      "2026-10-31T05:30:00.000Z", // 01:30 EDT
      "2026-11-01T05:30:00.000Z", // the first 01:30 (EDT) only
      "2026-11-02T06:30:00.000Z", // 01:30 EST
    ]);
  });

  it("America/New_York, fall back: a half-hourly pattern runs in both occurrences of the repeated hour", () => {
    expect(
      ticks(
        spec({ cron: "0 */30 * * * *", timezone: "America/New_York" }),
        "2026-11-01T04:50:00Z",
        6,
      ),
    ).toEqual([
      "2026-11-01T05:00:00.000Z", // 01:00 EDT
      "2026-11-01T05:30:00.000Z", // 01:30 EDT
      "2026-11-01T06:00:00.000Z", // 01:00 EST
      "2026-11-01T06:30:00.000Z", // 01:30 EST
      "2026-11-01T07:00:00.000Z", // 02:00 EST
      "2026-11-01T07:30:00.000Z",
    ]);
  });

  it("Europe/Berlin, spring forward: 02:30 does not exist on 29 March; it fires once, at 03:00 CEST", () => {
    expect(
      ticks(spec({ cron: "30 2 * * *", timezone: "Europe/Berlin" }), "2026-03-27T12:00:00Z", 3),
    ).toEqual([
      "2026-03-28T01:30:00.000Z", // 02:30 CET
      "2026-03-29T01:00:00.000Z", // the gap: 03:00 CEST, once
      "2026-03-30T00:30:00.000Z", // 02:30 CEST
    ]);
  });

  it("Europe/Berlin, fall back: 02:30 happens twice on 25 October; a daily run fires once", () => {
    expect(
      ticks(spec({ cron: "30 2 * * *", timezone: "Europe/Berlin" }), "2026-10-23T12:00:00Z", 3),
    ).toEqual([
      "2026-10-24T00:30:00.000Z", // 02:30 CEST
      "2026-10-25T00:30:00.000Z", // the first 02:30 (CEST) only
      "2026-10-26T01:30:00.000Z", // 02:30 CET
    ]);
  });

  it("UTC has no such changes: a daily run keeps its UTC time through both dates", () => {
    expect(ticks(spec({ cron: "30 2 * * *" }), "2026-03-28T12:00:00Z", 2)).toEqual([
      "2026-03-29T02:30:00.000Z",
      "2026-03-30T02:30:00.000Z",
    ]);
  });
});

describe("the host's time zone does not matter", () => {
  const hostTz = process.env.TZ;
  afterEach(() => {
    if (hostTz === undefined) delete process.env.TZ;
    else process.env.TZ = hostTz;
  });

  it("09:00 in Europe/Berlin is the same instant whether the host runs in Auckland, New York or UTC", () => {
    const s = spec({ cron: "0 9 * * *", timezone: "Europe/Berlin" });
    const seen = ["Pacific/Auckland", "America/New_York", "UTC"].map((tz) => {
      process.env.TZ = tz;
      expect(new Date(ms("2026-01-15T00:00:00Z")).getTimezoneOffset()).toBe(
        tz === "Pacific/Auckland" ? -780 : tz === "America/New_York" ? 300 : 0,
      );
      return ticks(s, "2026-01-15T00:00:00Z", 2);
    });
    expect(seen[0]).toEqual(["2026-01-15T08:00:00.000Z", "2026-01-16T08:00:00.000Z"]);
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[2]).toEqual(seen[0]);
  });
});

describe("aliases, seconds, intervals, single times and bounds", () => {
  it("reads @hourly and a 6-field expression with seconds", () => {
    expect(ticks(spec({ cron: "@hourly" }), "2026-05-01T10:20:00Z", 2)).toEqual([
      "2026-05-01T11:00:00.000Z",
      "2026-05-01T12:00:00.000Z",
    ]);
    expect(ticks(spec({ cron: "*/15 * * * * *" }), "2026-05-01T10:20:01Z", 2)).toEqual([
      "2026-05-01T10:20:15.000Z",
      "2026-05-01T10:20:30.000Z",
    ]);
  });

  it("counts an interval from its creation, or from startAt (inclusive)", () => {
    const created = ms("2026-05-01T10:00:00.250Z");
    expect(iso(firstTick(spec({ everyMs: 5_000 }), created))).toBe("2026-05-01T10:00:05.250Z");
    const s = spec({ everyMs: 5_000, startAt: "2026-05-01T11:00:00Z" });
    expect(iso(firstTick(s, created))).toBe("2026-05-01T11:00:00.000Z");
    expect(iso(tickAfter(s, created, ms("2026-05-01T11:00:07Z")))).toBe("2026-05-01T11:00:10.000Z");
    expect(iso(tickAtOrBefore(s, created, ms("2026-05-01T11:00:07Z")))).toBe(
      "2026-05-01T11:00:05.000Z",
    );
    expect(tickAtOrBefore(s, created, ms("2026-05-01T10:59:59Z"))).toBeNull();
  });

  it("a single time is its only tick, even when it has passed", () => {
    const s = spec({ at: "2026-05-01T09:00:00Z" });
    expect(iso(firstTick(s, ms("2026-05-01T10:00:00Z")))).toBe("2026-05-01T09:00:00.000Z");
    expect(tickAfter(s, 0, ms("2026-05-01T09:00:00Z"))).toBeNull();
  });

  it("never ticks at or after endAt, nor before startAt", () => {
    const s = spec({
      cron: "0 * * * *",
      startAt: "2026-05-01T10:30:00Z",
      endAt: "2026-05-01T13:00:00Z",
    });
    expect(ticks(s, "2026-05-01T08:00:00Z", 5)).toEqual([
      "2026-05-01T11:00:00.000Z",
      "2026-05-01T12:00:00.000Z",
    ]);
    expect(iso(tickAtOrBefore(s, 0, ms("2026-05-01T20:00:00Z")))).toBe("2026-05-01T12:00:00.000Z");
  });

  it("the last cron tick at or before a time includes that time", () => {
    const s = spec({ cron: "@hourly" });
    expect(iso(tickAtOrBefore(s, 0, ms("2026-05-01T13:00:00Z")))).toBe("2026-05-01T13:00:00.000Z");
    expect(iso(tickAtOrBefore(s, 0, ms("2026-05-01T12:59:59.999Z")))).toBe(
      "2026-05-01T12:00:00.000Z",
    );
  });

  it("counts the ticks between two ticks", () => {
    expect(countTicks(spec({ everyMs: 1_000 }), 0, 5_000, 9_000, 10)).toBe(5);
    const c = spec({ cron: "* * * * * *" });
    expect(countTicks(c, 0, ms("2026-05-01T10:00:00Z"), ms("2026-05-01T10:00:09Z"), 1_000)).toBe(
      10,
    );
    expect(countTicks(c, 0, ms("2026-05-01T10:00:00Z"), ms("2026-05-01T10:00:09Z"), 4)).toBe(4);
  });
});

describe("checking a spec", () => {
  it("refuses an unreadable cron expression and one that never fires again, naming the field", () => {
    for (const cron of ["every day", "61 * * * *", "0 0 12 31 12 * 2020"]) {
      let err: unknown;
      try {
        checkScheduleSpec(spec({ cron }), ms("2026-05-01T00:00:00Z"));
      } catch (e) {
        err = e;
      }
      expect(err, cron).toBeInstanceOf(DroverError);
      expect((err as DroverError).code).toBe("validation_failed");
    }
    expect(() => checkScheduleSpec(spec({ cron: "@daily" }), 0)).not.toThrow();
  });

  it("the schema refuses an unknown zone, two ways of saying when, and an end before the start", () => {
    const bad = [
      { cron: "@daily", timezone: "Mars/Olympus" },
      { cron: "@daily", everyMs: 1_000 },
      {},
      { everyMs: 1_000, startAt: "2026-05-02T00:00:00Z", endAt: "2026-05-01T00:00:00Z" },
      { everyMs: 10 },
      { everyMs: 1_000, catchUp: { windowMs: 0 } },
    ];
    for (const b of bad)
      expect(
        SpecSchema.safeParse({ task: { type: "echo" }, ...b }).success,
        JSON.stringify(b),
      ).toBe(false);
  });
});

describe("jitter", () => {
  it("is the same for a tick whoever computes it, within [0, jitterMs], and differs across ticks", () => {
    const a = tickJitter("nightly", 1_000, 60_000);
    expect(tickJitter("nightly", 1_000, 60_000)).toBe(a);
    const seen = new Set(
      Array.from({ length: 50 }, (_, i) => tickJitter("nightly", i * 1_000, 60_000)),
    );
    expect(seen.size).toBeGreaterThan(40);
    for (const j of seen) expect(j >= 0 && j <= 60_000).toBe(true);
    expect(tickJitter("nightly", 1_000, 0)).toBe(0);
  });
});
