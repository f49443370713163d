/**
 * Pools: `drover pools` (each pool's workers, desired count and why), `drover pool set|delete`
 * (its template and scaling policy, through the API), and the flags `drover autoscale` shares.
 */
import type { PoolStatus, SetPoolRequest } from "../protocol/index.ts";
import { SetPoolRequest as SetPoolRequestSchema } from "../protocol/index.ts";
import type { Command, CommandContext } from "./command.ts";
import { UsageError } from "./command.ts";
import { intFlag, labelsFlag, numFlag } from "./flags.ts";
import { ago, print, withClient } from "./tasks.ts";

/** The template and policy flags of `pool set` and `autoscale`. */
export const poolOptions = {
  types: { type: "string" },
  cpu: { type: "string" },
  "memory-mb": { type: "string" },
  slots: { type: "string" },
  label: { type: "string", multiple: true },
  min: { type: "string" },
  max: { type: "string" },
  target: { type: "string" },
  "up-window-ms": { type: "string" },
  "down-window-ms": { type: "string" },
  "max-step": { type: "string" },
} as const;

export const POOL_USAGE =
  "--types a,b [--cpu 4] [--memory-mb 4096] [--slots 8] [--label k=v ...] [--min 0] --max N [--target 0.8] [--up-window-ms 5000] [--down-window-ms 60000] [--max-step 4]";

/** A `pools.set` request from the flags (validated like the API validates it). */
export function poolRequest(
  pool: string,
  values: CommandContext["values"],
  defaults: {
    types?: string[];
    min?: number;
    max?: number;
    slots?: number;
    upWindowMs?: number;
    downWindowMs?: number;
  } = {},
): SetPoolRequest {
  const types =
    typeof values.types === "string"
      ? values.types.split(",").filter((t) => t !== "")
      : defaults.types;
  if (types === undefined)
    throw new UsageError("--types is required (the task types the pool's workers run)");
  if (values.max === undefined && defaults.max === undefined)
    throw new UsageError("--max is required");
  const opt = (name: string, def?: number): number | undefined =>
    values[name] === undefined ? def : numFlag(values, name, 0);
  const res = SetPoolRequestSchema.safeParse({
    pool,
    template: {
      types,
      labels: labelsFlag(values, "label"),
      capacity: {
        cpu: numFlag(values, "cpu", 4),
        memoryMb: numFlag(values, "memory-mb", 4096),
        slots: intFlag(values, "slots", defaults.slots ?? 8),
      },
    },
    scale: {
      ...(values.min !== undefined || defaults.min !== undefined
        ? { min: intFlag(values, "min", defaults.min ?? 0) }
        : {}),
      max: intFlag(values, "max", defaults.max ?? 1),
      ...(opt("target") !== undefined ? { targetUtilisation: opt("target") } : {}),
      ...(opt("up-window-ms", defaults.upWindowMs) !== undefined
        ? { scaleUpWindowMs: opt("up-window-ms", defaults.upWindowMs) }
        : {}),
      ...(opt("down-window-ms", defaults.downWindowMs) !== undefined
        ? { scaleDownWindowMs: opt("down-window-ms", defaults.downWindowMs) }
        : {}),
      ...(opt("max-step") !== undefined ? { maxStep: opt("max-step") } : {}),
    },
  });
  if (!res.success) {
    const i = res.error.issues[0];
    throw new UsageError(
      `pool ${pool}: ${i?.path.join(".") ?? ""} ${i?.message ?? "is not valid"}`,
    );
  }
  return res.data;
}

function describePool(p: PoolStatus): string {
  const lines = [`${p.pool}: ${p.ready} ready, ${p.draining} draining`];
  const d = p.decision;
  if (d !== null)
    lines[0] += `; desired ${d.desired} (term ${d.term}, ${ago(d.at)} ago)\n  ${d.reason}`;
  else if (p.policy !== null) lines[0] += "; no decision yet";
  if (p.policy !== null) {
    const s = p.policy.scale;
    const t = p.policy.template;
    lines.push(
      `  policy: min ${s.min}, max ${s.max}, target ${Math.round(s.targetUtilisation * 100)}%, ` +
        `up window ${s.scaleUpWindowMs} ms, down window ${s.scaleDownWindowMs} ms, step ${s.maxStep}`,
      `  template: types ${t.types.join(",")}; cpu ${t.capacity.cpu}, memory ${t.capacity.memoryMb} MB, ` +
        `${t.capacity.slots} slots${
          Object.keys(t.labels).length > 0
            ? `; labels ${Object.entries(t.labels)
                .map(([k, v]) => `${k}=${v}`)
                .join(",")}`
            : ""
        }`,
    );
  } else lines.push("  no policy: not autoscaled (drover pool set, or drover autoscale)");
  return lines.join("\n");
}

export const poolsCommand: Command = {
  name: "pools",
  summary: "list worker pools: live workers, the autoscaler's desired count and why",
  usage: "drover pools [--json]",
  options: { json: { type: "boolean", default: false } },
  run: (ctx) =>
    withClient(ctx, async (c) => {
      const pools = await c.pools();
      if (ctx.values.json === true) print(pools);
      else if (pools.length === 0) console.log("no pools: no policy set and no live worker");
      else console.log(pools.map(describePool).join("\n"));
      return 0;
    }),
};

export const poolCommand: Command = {
  name: "pool",
  summary: "set or delete a pool's template and scaling policy",
  usage: `drover pool set NAME ${POOL_USAGE}\n       drover pool delete NAME`,
  options: poolOptions,
  run: (ctx) => {
    const [action, name, ...extra] = ctx.positionals;
    if ((action !== "set" && action !== "delete") || name === undefined || extra.length > 0)
      throw new UsageError("usage: drover pool set NAME [flags] | drover pool delete NAME");
    return withClient(ctx, async (c) => {
      if (action === "delete") {
        await c.deletePool(name);
        console.log(`pool ${name}: policy deleted`);
        return 0;
      }
      const policy = await c.setPool(poolRequest(name, ctx.values));
      print(policy);
      return 0;
    });
  },
};
