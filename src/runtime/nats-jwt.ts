/**
 * NATS's JWT (operator) mode for Drover's roles, made with the NKey library alone: what `nsc`
 * would generate, reduced to the claims the server reads.
 *
 * One operator, a system account, and one account for Drover with JetStream. The fixed roles
 * (admin, scheduler, submitter, observer) are users signed by the account with their
 * permissions. Workers are signed by a **scoped signing key** of the account whose template
 * grants `{{name()}}`'s subjects only: a worker's user is named after its worker id, so it can
 * speak for that worker alone — and whoever holds the signing key (the autoscaler, or
 * `drover creds --jwt`) mints a user for a new worker without touching the server.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { nkeys } from "@nats-io/transport-node";
import { subjects } from "../protocol/index.ts";
import type { Permissions, Role } from "./nats-roles.ts";
import { DEFAULT_SUBMITTER, rolePermissions, workerPermissions } from "./nats-roles.ts";

type KeyPair = ReturnType<typeof nkeys.createUser>;

const enc = new TextEncoder();
const b64u = (b: Uint8Array | string): string => Buffer.from(b).toString("base64url");
const seedOf = (kp: KeyPair): string => new TextDecoder().decode(kp.getSeed());

/** The name a worker's user carries, which the template expands in its subjects. */
export const WORKER_NAME_TEMPLATE = "{{name()}}";

/** A JWT with `claims.nats`, issued (signed) by `issuer` for `subject`. */
export function encodeJwt(issuer: KeyPair, subject: string, name: string, nats: object): string {
  const claims: Record<string, unknown> = {
    iat: Math.floor(Date.now() / 1_000),
    iss: issuer.getPublicKey(),
    name,
    sub: subject,
    nats,
  };
  claims.jti = createHash("sha256").update(JSON.stringify(claims)).digest("base64url");
  const head = b64u(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }));
  const body = b64u(JSON.stringify(claims));
  return `${head}.${body}.${b64u(issuer.sign(enc.encode(`${head}.${body}`)))}`;
}

/** The claims a `.creds` file's reader sees of one JWT (no signature check). */
export function decodeJwtClaims(jwt: string): Record<string, unknown> {
  const body = jwt.split(".")[1] ?? "";
  return JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as Record<string, unknown>;
}

const NO_LIMITS = { subs: -1, data: -1, payload: -1 };

/** A user's permission and limit claims from {@link Permissions} (null: unrestricted). */
function userLimits(p: Permissions | null): object {
  if (p === null) return { pub: {}, sub: {}, ...NO_LIMITS };
  return {
    pub: { allow: p.publish.allow },
    sub: { allow: p.subscribe.allow },
    ...(p.allow_responses === true ? { resp: { max: 1, ttl: 0 } } : {}),
    ...NO_LIMITS,
  };
}

/** A `.creds` file's text: the user's JWT and seed. */
export function credsFile(jwt: string, seed: string): string {
  return (
    `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n` +
    "************************* IMPORTANT *************************\n" +
    "NKEY Seed printed below can be used to sign and prove identity.\n" +
    "NKEYs are sensitive and should be treated as secrets.\n\n" +
    `-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`
  );
}

/** The keys of one deployment in JWT mode (seeds as `S…` strings). */
export interface OperatorSeeds {
  operator: string;
  system: string;
  account: string;
  /** The account's scoped signing key for workers. */
  workerSigner: string;
}

/** New keys for a deployment. */
export function newOperatorSeeds(): OperatorSeeds {
  return {
    operator: seedOf(nkeys.createOperator()),
    system: seedOf(nkeys.createAccount()),
    account: seedOf(nkeys.createAccount()),
    workerSigner: seedOf(nkeys.createAccount()),
  };
}

const pair = (seed: string): KeyPair => nkeys.fromSeed(enc.encode(seed));

/** What mints worker users: the scoped signing key and the account it signs for. */
export interface WorkerSigner {
  account: string;
  seed: string;
}

export function workerSigner(seeds: OperatorSeeds): WorkerSigner {
  return { account: pair(seeds.account).getPublicKey(), seed: seeds.workerSigner };
}

/**
 * The server configuration lines of JWT mode: the operator, the system account and a memory
 * resolver preloaded with both accounts (Drover's with JetStream and the workers' scoped key).
 */
export function operatorServerConfig(seeds: OperatorSeeds, prefix: string): string {
  const operator = pair(seeds.operator);
  const system = pair(seeds.system);
  const account = pair(seeds.account);
  const signer = pair(seeds.workerSigner);
  const accountLimits = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1 };
  const operatorJwt = encodeJwt(operator, operator.getPublicKey(), "drover-operator", {
    type: "operator",
    version: 2,
  });
  const systemJwt = encodeJwt(operator, system.getPublicKey(), "SYS", {
    type: "account",
    version: 2,
    limits: { ...accountLimits, wildcards: true, conn: -1, leaf: -1 },
  });
  const template = workerPermissions(prefix, WORKER_NAME_TEMPLATE);
  const accountJwt = encodeJwt(operator, account.getPublicKey(), `drover-${prefix}`, {
    type: "account",
    version: 2,
    limits: {
      ...accountLimits,
      wildcards: true,
      conn: -1,
      leaf: -1,
      mem_storage: -1,
      disk_storage: -1,
      streams: -1,
      consumer: -1,
    },
    signing_keys: [
      {
        kind: "user_scope",
        key: signer.getPublicKey(),
        role: "worker",
        template: userLimits(template),
      },
    ],
  });
  return (
    `# Drover's roles for prefix '${prefix}' in JWT mode (made by \`drover creds --jwt\`).\n` +
    `operator: ${operatorJwt}\n` +
    `system_account: ${system.getPublicKey()}\n` +
    "resolver: MEMORY\n" +
    // A client's CONNECT line carries its user JWT, and the scheduler's lists its permissions:
    // more than the default 4 KB.
    "max_control_line: 65536\n" +
    `resolver_preload: {\n  ${system.getPublicKey()}: ${systemJwt}\n  ${account.getPublicKey()}: ${accountJwt}\n}\n`
  );
}

/**
 * A `.creds` file for a fixed role (not a worker), signed by the account; a submitter user is
 * named `submitter` (default: {@link DEFAULT_SUBMITTER}) and may send only as that submitter.
 */
export function roleCreds(
  seeds: OperatorSeeds,
  role: Exclude<Role, "worker">,
  prefix: string,
  submitter: string = DEFAULT_SUBMITTER,
): string {
  const account = pair(seeds.account);
  const user = nkeys.createUser();
  const jwt = encodeJwt(account, user.getPublicKey(), role === "submitter" ? submitter : role, {
    type: "user",
    version: 2,
    ...userLimits(rolePermissions(role, prefix, submitter)),
  });
  return credsFile(jwt, seedOf(user));
}

/**
 * The submitter a `.creds` file's user must send as: the `<name>` of the
 * `<prefix>.api.as.<name>.>` its permissions allow, or null (another role, or no such file).
 */
export function submitterOfCreds(file: string, prefix: string): string | null {
  let jwt: string | undefined;
  try {
    jwt = /-----BEGIN NATS USER JWT-----\s*(\S+)/.exec(readFileSync(file, "utf8"))?.[1];
  } catch {
    return null;
  }
  if (jwt === undefined) return null;
  let allow: unknown;
  try {
    allow = (decodeJwtClaims(jwt).nats as { pub?: { allow?: unknown } } | undefined)?.pub?.allow;
  } catch {
    return null;
  }
  if (!Array.isArray(allow)) return null;
  const s = subjects(prefix);
  for (const subject of allow) {
    if (typeof subject !== "string" || !subject.endsWith(".>")) continue;
    const name = s.parseApi(`${subject.slice(0, -2)}.health`)?.submitter;
    if (name != null && s.submitterApi(name) === subject) return name;
  }
  return null;
}

/**
 * A `.creds` file for worker `workerId`, signed by the scoped key: the user is named after
 * the worker, and the key's template gives it that worker's subjects (a scoped user carries no
 * permissions of its own).
 */
export function workerCreds(signer: WorkerSigner, workerId: string): string {
  const user = nkeys.createUser();
  const jwt = encodeJwt(pair(signer.seed), user.getPublicKey(), workerId, {
    type: "user",
    version: 2,
    issuer_account: signer.account,
  });
  return credsFile(jwt, seedOf(user));
}
