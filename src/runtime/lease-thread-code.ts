/**
 * How the lease thread gets its code without running WebAssembly.
 *
 * In a checkout (and in the image, which runs the sources) Node loads `.ts` modules through its
 * type stripper, which is WebAssembly (amaro). A thread that loads its modules that way runs
 * WebAssembly in its own V8 isolate, and V8 (13.6, in Node 24) keeps one process-wide registry
 * of the pages WebAssembly code lives in. Threads that start and stop while others run
 * WebAssembly eventually desynchronise that registry, and V8 aborts the whole process:
 * `Check failed: jit_page.has_value()` in `ThreadIsolation::UnregisterWasmAllocation`, seen as
 * SIGILL in CI, and reproduced by `npm run test:stress` (replicas started and stopped over and
 * over in one process).
 *
 * So the replica strips the types of the thread's modules itself, once per process
 * ({@link leaseThreadSources}), and the thread starts from a few lines of plain JavaScript
 * ({@link LEASE_THREAD_BOOTSTRAP}) that install a module hook serving those sources: the
 * thread loads no type stripper and runs no WebAssembly. Compiled code (`.js`, the npm
 * package) needs none of this and starts the entry module directly.
 */
import { existsSync, readFileSync, realpathSync } from "node:fs";
import * as nodeModule from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

/** What the bootstrap is started with, besides the thread's own data. */
export interface LeaseThreadSources {
  /** file: URL of the entry module, as the module loader resolves it (symlinks resolved). */
  entry: string;
  /** JavaScript source of every module the entry reaches by relative `.ts` imports, by URL. */
  sources: Record<string, string>;
}

/**
 * The thread's first code (CommonJS, evaluated): serve the stripped sources to the module
 * loader, then import the entry. A module missing from the map is loaded as usual.
 */
export const LEASE_THREAD_BOOTSTRAP = `
const { registerHooks } = require("node:module");
const { workerData } = require("node:worker_threads");
const { sources, entry } = workerData.code;
registerHooks({
  load(url, context, next) {
    const source = sources[url];
    return source === undefined ? next(url, context) : { format: "module", source, shortCircuit: true };
  },
});
import(entry).catch((err) => { setImmediate(() => { throw err; }); });
`;

/** Relative `.ts` specifiers in JavaScript: `from "./x.ts"`, `import("./x.ts")`, `import "./x.ts"`. */
const RELATIVE_TS = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"'\n]+\.ts)["']/g;

/** The relative `.ts` modules one module's JavaScript imports, resolved against its URL. */
export function relativeTsImports(js: string, url: string): string[] {
  return [...js.matchAll(RELATIVE_TS)].map((m) => new URL(m[1] ?? "", url).href);
}

type Strip = (code: string, options: { mode: "strip" }) => string;
type RegisterHooks = (hooks: object) => unknown;

const cache = new Map<string, LeaseThreadSources | null>();

/**
 * The stripped sources of `entry` (a `.ts` file: URL) and of every module it reaches through
 * relative `.ts` imports; null when there is nothing to do (`entry` is compiled code) or this
 * Node cannot do it (no `module.stripTypeScriptTypes` or `module.registerHooks`, before 22.15),
 * and the thread then loads `entry` itself. Computed once per entry and process (about 0.15 s
 * for the lease thread's 56 modules).
 */
export function leaseThreadSources(entry: URL): LeaseThreadSources | null {
  const known = cache.get(entry.href);
  if (known !== undefined) return known;
  const strip = (nodeModule as { stripTypeScriptTypes?: Strip }).stripTypeScriptTypes;
  const hooks = (nodeModule as { registerHooks?: RegisterHooks }).registerHooks;
  const result =
    entry.protocol === "file:" &&
    entry.pathname.endsWith(".ts") &&
    strip !== undefined &&
    hooks !== undefined
      ? collect(entry, strip)
      : null;
  cache.set(entry.href, result);
  return result;
}

function collect(entry: URL, strip: Strip): LeaseThreadSources {
  const real = (url: string): string => pathToFileURL(realpathSync(fileURLToPath(url))).href;
  const root = real(entry.href);
  const sources: Record<string, string> = {};
  const todo = [root];
  for (let url = todo.pop(); url !== undefined; url = todo.pop()) {
    if (sources[url] !== undefined) continue;
    const js = quietly(() => strip(readFileSync(fileURLToPath(url), "utf8"), { mode: "strip" }));
    sources[url] = js;
    for (const dep of relativeTsImports(js, url))
      if (existsSync(fileURLToPath(dep))) todo.push(real(dep));
  }
  return { entry: root, sources };
}

/**
 * Runs `fn` without the one-time "stripTypeScriptTypes is an experimental feature" warning,
 * which would otherwise land in every replica's log on its first lease thread.
 */
function quietly<T>(fn: () => T): T {
  const emit = process.emitWarning.bind(process);
  process.emitWarning = (warning: string | Error, ...rest: unknown[]): void => {
    const text = typeof warning === "string" ? warning : warning.message;
    if (!text.includes("stripTypeScriptTypes")) emit(warning, ...(rest as [string]));
  };
  try {
    return fn();
  } finally {
    process.emitWarning = emit;
  }
}
