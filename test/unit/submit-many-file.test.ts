import { describe, expect, it } from "vitest";
import { parseTaskFile } from "../../src/cli/submit-many.ts";

describe("drover submit-many's file", () => {
  it("reads JSON lines (blank lines skipped) or one JSON array", () => {
    expect(parseTaskFile('{"type":"a"}\n\n{"type":"b","payload":2}\n')).toEqual([
      { type: "a" },
      { type: "b", payload: 2 },
    ]);
    expect(parseTaskFile(' [{"type":"a"},{"type":"b"}] ')).toEqual([{ type: "a" }, { type: "b" }]);
  });

  it("names the first bad task by its line or element, and sends nothing", () => {
    expect(() => parseTaskFile('{"type":"a"}\n{"type":"a","priority":5000}')).toThrow(
      /^line 2: invalid task: priority/,
    );
    expect(() => parseTaskFile('{"type":"a"}\n{oops')).toThrow(/^line 2: not JSON/);
    expect(() => parseTaskFile('[{"type":"a"},{"typ":"b"}]')).toThrow(/^element 1: invalid task/);
    expect(() => parseTaskFile("[1,")).toThrow(/not a JSON array/);
    expect(() => parseTaskFile("  \n")).toThrow(/empty/);
    expect(() => parseTaskFile("[]")).toThrow(/no tasks/);
  });
});
