/**
 * Configuration shared by every `drover` subcommand: environment variables, overridden by
 * flags, parsed by one zod schema. Defaults live here and only here.
 */
import { z } from "zod";
import type { ResourceSettings } from "../runtime/index.ts";
import { checkAuth, DEFAULT_RETENTION_MS, defaultResourceOptions } from "../runtime/index.ts";

const csv = z
  .string()
  .transform((s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter((x) => x.length > 0),
  )
  .pipe(z.array(z.string()).min(1, "at least one NATS URL"));

/** An optional string; an empty one (an env variable set to "") counts as unset. */
const optText = z.preprocess((v) => (v === "" ? undefined : v), z.string().optional());

const ttl = z.coerce.number().int().min(100).max(60_000).optional();
const bytes = (def: number) =>
  z.coerce
    .number()
    .int()
    .refine((n) => n === -1 || n >= 1_048_576, "-1 (no limit) or at least 1048576 (1 MiB)")
    .default(def);

/** Global options. Every field documents its env variable and default. */
export const GlobalConfig = z.object({
  /** `DROVER_NATS_URL` / `--nats`: comma-separated server URLs. @default "nats://127.0.0.1:4222" */
  natsUrl: csv.default(["nats://127.0.0.1:4222"]),
  /**
   * How every connection authenticates, with the `nats` CLI's flags and env variables:
   * `--user`/`NATS_USER` and `--password`/`NATS_PASSWORD`, `--token`/`NATS_TOKEN`,
   * `--creds`/`NATS_CREDS` (a `.creds` file), `--nkey`/`NATS_NKEY` (a seed file), and TLS with
   * `--tlscert`/`NATS_CERT`, `--tlskey`/`NATS_KEY`, `--tlsca`/`NATS_CA`. @default none
   */
  auth: z.object({
    user: optText,
    password: optText,
    token: optText,
    creds: optText,
    nkey: optText,
    tlsCert: optText,
    tlsKey: optText,
    tlsCa: optText,
  }),
  /**
   * `DROVER_SUBMITTER` / `--submitter`: the submitter a client sends as (its own API subjects,
   * its limits, its tasks). @default the one a `--creds` file's permissions name, else none
   */
  submitter: z.preprocess(
    (v) => (v === "" ? undefined : v),
    z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,128}$/, "letters, digits, _ and - (max 128)")
      .optional(),
  ),
  /** `DROVER_PREFIX` / `--prefix`: subjects, streams and buckets prefix. @default "drover" */
  prefix: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/i, "letters, digits, _ and - (max 32)")
    .default("drover"),
  /** `DROVER_REPLICAS`: replicas of streams and buckets (3 on a 3-node cluster). @default 1 */
  replicas: z.coerce.number().int().min(1).max(5).default(1),
  /** `DROVER_LOG_LEVEL` / `--log-level`. @default "info" */
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /**
   * `DROVER_HEARTBEAT_TTL_MS`: a worker silent for this long is dead. Unset, a process adopts
   * the cluster's (1200 for a new cluster); set higher than the cluster's, it raises it.
   */
  heartbeatTtlMs: ttl,
  /** `DROVER_LEASE_TTL_MS`: leadership lease; unset, the cluster's (1200 for a new cluster). */
  leaseTtlMs: ttl,
  /**
   * `DROVER_RETENTION_MS` (or `drover scheduler --retention-ms`): how long a finished task's record (and its
   * idempotency key) is kept when its submit did not say. @default 86400000 (24 h)
   */
  retentionMs: z.coerce.number().int().min(1_000).default(DEFAULT_RETENTION_MS),
  /**
   * `DROVER_TASKS_MAX_BYTES`, `DROVER_IDEMPOTENCY_MAX_BYTES`, `DROVER_REPORTS_MAX_BYTES`,
   * `DROVER_EVENTS_MAX_BYTES`, `DROVER_FINISHED_MAX_BYTES`: byte limits of the data streams and
   * buckets (-1: none), set when they are created. @default 1 GiB, 128 MiB, 128 MiB, 256 MiB,
   * 256 MiB
   */
  maxBytes: z.object({
    tasks: bytes(defaultResourceOptions.maxBytes.tasks),
    idempotency: bytes(defaultResourceOptions.maxBytes.idempotency),
    reports: bytes(defaultResourceOptions.maxBytes.reports),
    events: bytes(defaultResourceOptions.maxBytes.events),
    finished: bytes(defaultResourceOptions.maxBytes.finished),
  }),
});
export type GlobalConfig = z.output<typeof GlobalConfig>;

/** Reads the global config from `env`, with `flags` (already parsed) taking precedence. */
export function loadConfig(
  env: NodeJS.ProcessEnv,
  flags: Record<string, unknown> = {},
): GlobalConfig {
  const pick = (flag: string, name: string): unknown => flags[flag] ?? env[name];
  const config = GlobalConfig.parse({
    natsUrl: pick("nats", "DROVER_NATS_URL"),
    auth: {
      user: pick("user", "NATS_USER"),
      password: pick("password", "NATS_PASSWORD"),
      token: pick("token", "NATS_TOKEN"),
      creds: pick("creds", "NATS_CREDS"),
      nkey: pick("nkey", "NATS_NKEY"),
      tlsCert: pick("tlscert", "NATS_CERT"),
      tlsKey: pick("tlskey", "NATS_KEY"),
      tlsCa: pick("tlsca", "NATS_CA"),
    },
    submitter: pick("submitter", "DROVER_SUBMITTER"),
    prefix: pick("prefix", "DROVER_PREFIX"),
    replicas: env.DROVER_REPLICAS,
    logLevel: pick("log-level", "DROVER_LOG_LEVEL"),
    heartbeatTtlMs: env.DROVER_HEARTBEAT_TTL_MS,
    leaseTtlMs: env.DROVER_LEASE_TTL_MS,
    retentionMs: env.DROVER_RETENTION_MS,
    maxBytes: {
      tasks: env.DROVER_TASKS_MAX_BYTES,
      idempotency: env.DROVER_IDEMPOTENCY_MAX_BYTES,
      reports: env.DROVER_REPORTS_MAX_BYTES,
      events: env.DROVER_EVENTS_MAX_BYTES,
      finished: env.DROVER_FINISHED_MAX_BYTES,
    },
  });
  checkAuth(config.auth);
  return config;
}

/** The stream and bucket settings every process passes to `ensureResources`. */
export function resourceSettings(
  config: GlobalConfig,
  replicas = config.replicas,
): ResourceSettings {
  return {
    replicas,
    heartbeatTtlMs: config.heartbeatTtlMs,
    leaseTtlMs: config.leaseTtlMs,
    maxBytes: config.maxBytes,
  };
}
