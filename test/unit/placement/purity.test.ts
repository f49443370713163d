import { describe, it, expect } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { STRATEGY_NAMES } from "../../../src/actors/placement/index.ts";

const DIR = fileURLToPath(new URL("../../../src/actors/placement/", import.meta.url));
const FILES = readdirSync(DIR).filter((f) => f.endsWith(".ts"));

// Placement must be replayable: no I/O, no clock, no ambient randomness, nothing outside the folder.
describe("placement purity", () => {
  it.each(FILES)("%s imports only sibling .ts files and uses no ambient effects", (file) => {
    const src = readFileSync(DIR + file, "utf8");
    const specifiers = [...src.matchAll(/\bfrom\s+"([^"]+)"|\bimport\s*\(\s*"([^"]+)"/g)].map(
      (m) => m[1] ?? m[2],
    );
    for (const s of specifiers) expect(s).toMatch(/^\.\/[a-z0-9-]+\.ts$/);
    expect(src).not.toMatch(/\bimport\s+"/);
    expect(src).not.toMatch(/Math\.random|Date\.now|new Date\b|performance\.now|process\./);
  });

  it("has one kebab-case file per strategy (spread lives with worst-fit)", () => {
    for (const name of STRATEGY_NAMES.filter((n) => n !== "spread")) {
      expect(FILES).toContain(`${name}.ts`);
    }
  });
});
