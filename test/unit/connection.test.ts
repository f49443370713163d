import { describe, expect, it } from "vitest";
import { nextServer } from "../../src/runtime/connection.ts";

const s = (name: string, lastConnect: number, gossiped = false) => ({
  name,
  lastConnect,
  gossiped,
});

describe("nextServer (which server a reconnect dials)", () => {
  it("never the one just lost first", () => {
    expect(nextServer([s("a", 100), s("b", 0)])?.name).toBe("b");
    expect(nextServer([s("b", 0), s("a", 100)])?.name).toBe("b");
  });
  it("a listed server before an advertised one, then the one dialled longest ago", () => {
    const pool = [s("n2", 300), s("10.0.0.3", 0, true), s("n1", 200), s("n3", 100)];
    expect(nextServer(pool)?.name).toBe("n3");
  });
  it("an advertised one when nothing else is left", () => {
    expect(nextServer([s("seed", 300), s("10.0.0.3", 0, true)])?.name).toBe("10.0.0.3");
  });
  it("leaves a single server to the client", () => {
    expect(nextServer([s("a", 100)])).toBeNull();
  });
});
