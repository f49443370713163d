/**
 * Drover's roles as NATS users with least privilege: what each may publish and subscribe to,
 * derived from one prefix, and the `authorization` block of a server configuration that
 * holds them (see `drover creds`).
 *
 * - **admin**: everything (creates and updates streams and buckets: `drover init`).
 * - **scheduler**: reads and writes task records, the lease, idempotency keys and pools;
 *   consumes reports; sends assignments and drain requests; publishes events; answers the
 *   API, and asks it on behalf of its dashboard (which also follows the events). It reads
 *   heartbeats but cannot write them, and cannot create, change or delete a stream.
 * - **worker** (one user per worker id): its own heartbeat key, its own assignment, cancel and
 *   drain subjects, reports on its own report subjects; replies to the leader's requests.
 * - **submitter** (one user per submitter name): the API on its own subjects
 *   (`<prefix>.api.as.<name>.>`), so the replicas know who submits, apply its limits, and let
 *   it cancel or retry only its own tasks.
 * - **observer**: the read-only API and the events (live, or from the events stream).
 *
 * Every user may subscribe to `_INBOX.>` for its replies. NATS lets such a subscriber see
 * replies meant for others; a deployment that must rule that out gives each user its own inbox
 * prefix (not done here).
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { nkeys } from "@nats-io/transport-node";
import { resourceNames, subjects } from "../protocol/index.ts";

export const ROLES = ["admin", "scheduler", "worker", "submitter", "observer"] as const;
export type Role = (typeof ROLES)[number];

/** A NATS user's permissions, as the server configuration writes them. */
export interface Permissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
  /** Lets the user reply to requests it received (and only to those). */
  allow_responses?: boolean;
}

/** What a JetStream client needs to read a stream: info, direct and message gets, consumers. */
function readStream(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.>`,
    `$JS.API.CONSUMER.DELETE.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
    `$JS.FC.${stream}.>`,
  ];
}

/** The submitter name of a submitter user made without one. */
export const DEFAULT_SUBMITTER = "submitter";

/**
 * The permissions of `role` for the installation with `prefix`; `id` names the worker a worker
 * user speaks for (required for that role) or the submitter a submitter user is (default
 * {@link DEFAULT_SUBMITTER}), ignored otherwise. Null for admin: no restriction.
 */
export function rolePermissions(role: Role, prefix: string, id?: string): Permissions | null {
  const s = subjects(prefix);
  const n = resourceNames(prefix);
  const kv = (bucket: string): string => `KV_${bucket}`;
  const readApi = [
    s.api.get,
    s.api.list,
    s.api.workers,
    s.api.health,
    s.api.pools.list,
    s.api.schedules.list,
    s.api.schedules.get,
    s.replicas,
  ];
  switch (role) {
    case "admin":
      return null;
    case "scheduler":
      return {
        publish: {
          allow: [
            "$JS.API.INFO",
            ...[
              kv(n.buckets.tasks),
              kv(n.buckets.workers),
              kv(n.buckets.leader),
              kv(n.buckets.idempotency),
              kv(n.buckets.pools),
              kv(n.buckets.schedules),
              n.streams.reports,
              n.streams.events,
              n.streams.finished,
            ].flatMap(readStream),
            `$JS.ACK.${n.streams.reports}.>`,
            `$KV.${n.buckets.tasks}.>`,
            `$KV.${n.buckets.leader}.>`,
            `$KV.${n.buckets.idempotency}.>`,
            `$KV.${n.buckets.pools}.>`,
            `$KV.${n.buckets.schedules}.>`,
            `${prefix}.worker.*.assign`,
            `${prefix}.worker.*.cancel`,
            `${prefix}.worker.*.drain`,
            // The dashboard each replica serves asks the API like any client does.
            s.apiWildcard,
            // Replies: every replica answers one `replicas` request, and nats-server's
            // allow_responses let only one of several responders through.
            "_INBOX.>",
            s.eventsWildcard,
            s.finishedWildcard,
          ],
        },
        // Events: the dashboard's live updates.
        subscribe: { allow: [s.apiWildcard, s.eventsWildcard, "_INBOX.>"] },
        allow_responses: true,
      };
    case "worker": {
      if (id === undefined) throw new Error("a worker user needs its worker id");
      // Checked here, since workerPermissions also takes a template in place of the id.
      s.workerReports(id);
      return workerPermissions(prefix, id);
    }
    case "submitter":
      return {
        publish: { allow: [s.submitterApi(id ?? DEFAULT_SUBMITTER)] },
        subscribe: { allow: ["_INBOX.>"] },
      };
    case "observer":
      return {
        publish: { allow: [...readApi, ...readStream(n.streams.events)] },
        subscribe: { allow: [s.eventsWildcard, "_INBOX.>"] },
      };
  }
}

/**
 * A worker's permissions, for `id`: a worker id, or a NATS template such as `{{name()}}`
 * (which the server expands per user in JWT mode), so it is not checked as a subject token.
 */
export function workerPermissions(prefix: string, id: string): Permissions {
  const workers = resourceNames(prefix).buckets.workers;
  return {
    publish: {
      allow: [
        `$JS.API.STREAM.INFO.KV_${workers}`,
        `$KV.${workers}.${id}`,
        `${prefix}.reports.${id}.>`,
      ],
    },
    subscribe: {
      allow: [
        `${prefix}.worker.${id}.assign`,
        `${prefix}.worker.${id}.cancel`,
        `${prefix}.worker.${id}.drain`,
        "_INBOX.>",
      ],
    },
    allow_responses: true,
  };
}

/** One user of the generated configuration. */
export interface RoleUser {
  /** A name for people: `scheduler`, `worker-w1`, … */
  name: string;
  role: Role;
  /** The user's public NKey (`U…`). */
  nkey: string;
  /** The worker a worker user speaks for. */
  workerId?: string;
  /** The name a submitter user submits as. @default DEFAULT_SUBMITTER */
  submitter?: string;
}

/**
 * The `authorization { users: [...] }` block for `users` (NKey users: the server holds only
 * public keys). No user is anonymous: a connection without credentials is refused.
 */
export function authorizationBlock(prefix: string, users: readonly RoleUser[]): string {
  const lines = [
    `# Drover's roles for prefix '${prefix}' (made by \`drover creds\`; include it from nats.conf).`,
    "authorization {",
    "  users: [",
  ];
  for (const u of users) {
    const p = rolePermissions(u.role, prefix, u.role === "worker" ? u.workerId : u.submitter);
    lines.push(`    # ${u.name}`);
    lines.push(
      p === null
        ? `    { nkey: ${u.nkey} }`
        : `    { nkey: ${u.nkey}, permissions: ${JSON.stringify(p)} }`,
    );
  }
  lines.push("  ]", "}", "");
  return lines.join("\n");
}

/**
 * The NKey user whose seed is in `file`; where there is no such file, a new user whose seed is
 * written there (readable by its owner only). Returns the user's public key.
 */
export function userSeedFile(file: string): { publicKey: string; created: boolean } {
  if (existsSync(file)) {
    const kp = nkeys.fromSeed(new TextEncoder().encode(readFileSync(file, "utf8").trim()));
    return { publicKey: kp.getPublicKey(), created: false };
  }
  const kp = nkeys.createUser();
  writeFileSync(file, `${new TextDecoder().decode(kp.getSeed())}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { publicKey: kp.getPublicKey(), created: true };
}
