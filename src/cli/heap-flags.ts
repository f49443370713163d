/**
 * V8 heap settings for a scheduler replica. Most of a replica's heap is its mirror, which lives
 * as long as the tasks it holds, and its allocation comes in floods (a burst of submits decodes
 * thousands of records a second). V8's defaults size a heap for the opposite: a young
 * generation of up to 128 MiB on a large machine, and an old one allowed to grow to several
 * times what is live. A replica holding a million tasks then sits at twice the memory it needs.
 *
 * - `DROVER_MAX_SEMI_SPACE_MB` (default 16): the young generation's semi-space. 16 MiB cost no
 *   measurable throughput in the mirror's fill and saved about 80 MiB (see docs/scale.md).
 * - `DROVER_HEAP_GROWING_PERCENT` (default 30): how far the old generation may grow over the
 *   live heap before the next full collection.
 *
 * V8 reads the semi-space size only when the heap is created, so a process started without
 * the flags replaces itself (`process.execve`: same pid, same arguments, flags added) before
 * it has done anything. Set either variable to 0 to keep V8's default for it.
 */
import { setFlagsFromString } from "node:v8";

/** The flags the environment asks for (none for a variable set to 0 or not a number). */
export function heapFlags(env: NodeJS.ProcessEnv): string[] {
  const flags: string[] = [];
  const semi = env.DROVER_MAX_SEMI_SPACE_MB ?? "16";
  if (/^\d+$/.test(semi) && semi !== "0") flags.push(`--max-semi-space-size=${semi}`);
  const growth = env.DROVER_HEAP_GROWING_PERCENT ?? "30";
  if (/^\d+$/.test(growth) && growth !== "0") flags.push(`--heap-growing-percent=${growth}`);
  return flags;
}

/**
 * Makes sure this process runs with {@link heapFlags}: returns when it does (or cannot), and
 * otherwise does not return (the process is replaced by one started with them).
 */
export function applyHeapFlags(): void {
  const wanted = heapFlags(process.env);
  const missing = wanted.filter(
    (f) => !process.execArgv.some((a) => a.split("=")[0] === f.split("=")[0]),
  );
  if (missing.length === 0) return;
  const execve = (process as { execve?: (file: string, args: string[], env: object) => never })
    .execve;
  if (typeof execve === "function" && process.env.DROVER_HEAP_FLAGS_APPLIED === undefined) {
    execve(
      process.execPath,
      [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)],
      // Marks the replacement, so a Node that ignored the flags cannot loop.
      { ...process.env, DROVER_HEAP_FLAGS_APPLIED: "1" },
    );
  }
  // No execve (Node < 23.11): what can be set at run time still helps.
  for (const f of missing) if (f.startsWith("--heap-growing-percent")) setFlagsFromString(f);
}
