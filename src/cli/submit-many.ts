/**
 * `drover submit-many <file|->`: many tasks from a file of JSON lines (one submit request per
 * line, blank lines skipped) or one JSON array, sent through `tasks.submit-many`. Every task is
 * checked here first: a bad one is named by its line and nothing is sent.
 */
import { readFileSync } from "node:fs";
import type { SubmitTaskRequestInput } from "../protocol/index.ts";
import { SubmitTaskRequest } from "../protocol/index.ts";
import type { SubmitManyResult } from "../runtime/index.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";
import { print, withClient } from "./tasks.ts";

/** The tasks of a submit-many file, each checked; throws a usage error naming the first bad one. */
export function parseTaskFile(text: string): SubmitTaskRequestInput[] {
  const trimmed = text.trim();
  if (trimmed === "") throw new UsageError("no tasks: the file is empty");
  let items: { where: string; value: unknown }[];
  if (trimmed.startsWith("[")) {
    let array: unknown;
    try {
      array = JSON.parse(trimmed);
    } catch (err) {
      throw new UsageError(`not a JSON array: ${(err as Error).message}`);
    }
    items = (array as unknown[]).map((value, i) => ({ where: `element ${i}`, value }));
  } else {
    items = [];
    text.split("\n").forEach((line, i) => {
      if (line.trim() === "") return;
      try {
        items.push({ where: `line ${i + 1}`, value: JSON.parse(line) });
      } catch (err) {
        throw new UsageError(`line ${i + 1}: not JSON (${(err as Error).message})`);
      }
    });
  }
  if (items.length === 0) throw new UsageError("no tasks in the file");
  return items.map(({ where, value }) => {
    const check = SubmitTaskRequest.safeParse(value);
    if (!check.success) {
      const issue = check.error.issues[0];
      throw new UsageError(
        `${where}: invalid task: ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"}`,
      );
    }
    return value as SubmitTaskRequestInput;
  });
}

const describe = (r: SubmitManyResult): string =>
  r.ok
    ? r.duplicate
      ? `${r.id} (duplicate of an earlier submit)`
      : r.id
    : `error ${r.error.code}: ${r.error.message}`;

export const submitManyCommand: Command = {
  name: "submit-many",
  summary: "submit many tasks from a file of JSON lines or a JSON array ('-': stdin)",
  usage:
    "drover submit-many <file|-> [--json]\n" +
    'Each line (or array element) is a submit request, e.g. {"type":"echo","payload":1}.\n' +
    "Prints one line per task, in order: its id, or why it alone was refused. Exits 1 if any was.",
  options: {
    json: { type: "boolean", default: false },
  },
  async run(ctx) {
    const [file, ...extra] = ctx.positionals;
    if (file === undefined || extra.length > 0)
      throw new UsageError("usage: drover submit-many <file|-> [--json]");
    let text: string;
    try {
      text = readFileSync(file === "-" ? 0 : file, "utf8");
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
    }
    const tasks = parseTaskFile(text);
    return await withClient(ctx, async (client) => {
      const results = await client.submitMany(tasks, {
        // Progress on stderr for long files; one request holds up to 1,000 tasks.
        onProgress: (done, total) => {
          if (total > 1_000) console.error(`submitted ${done}/${total}`);
        },
      });
      if (ctx.values.json === true)
        print(
          results.map((r) =>
            r.ok ? r : { ok: false, error: { code: r.error.code, message: r.error.message } },
          ),
        );
      else for (const r of results) console.log(describe(r));
      return results.every((r) => r.ok) ? 0 : 1;
    });
  },
};
