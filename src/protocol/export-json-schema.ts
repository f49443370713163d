/**
 * `npm run schema`: prints the JSON Schemas of the protocol to stdout
 * (redirect to a file: `npm run -s schema > schema/drover.json`).
 */
import { jsonSchemas } from "./json-schema.ts";

console.log(JSON.stringify(jsonSchemas(), null, 2));
