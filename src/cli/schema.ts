import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { jsonSchemas } from "../protocol/index.ts";
import type { Command } from "./command.ts";

/** `drover schema`: writes one JSON Schema file per wire message, for clients in other languages. */
export const schemaCommand: Command = {
  name: "schema",
  summary: "write the protocol's JSON Schemas (one file per message) to a folder",
  usage: "drover schema [--out schema]",
  options: { out: { type: "string", default: "schema" } },
  async run({ values }) {
    const out = resolve(String(values.out));
    mkdirSync(out, { recursive: true });
    const schemas = jsonSchemas();
    for (const [name, schema] of Object.entries(schemas)) {
      writeFileSync(
        join(out, `${name}.schema.json`),
        `${JSON.stringify({ $id: `drover/${name}`, ...(schema as object) }, null, 2)}\n`,
      );
    }
    console.log(`wrote ${Object.keys(schemas).length} JSON Schemas to ${out}`);
    return 0;
  },
};
