/**
 * How a process proves who it is to NATS, named as the `nats` CLI names it: user and password,
 * a token, a `.creds` file (JWT and seed), an NKey seed file, and TLS (CA, client certificate
 * and key). Turned here into nats.js connect options; files are read at connect time, so a
 * rotated `.creds` file is picked up by the next connection.
 */
import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "@nats-io/transport-node";
import { credsAuthenticator, nkeyAuthenticator } from "@nats-io/transport-node";
import { DroverError, ErrorCode } from "../protocol/index.ts";

export interface NatsAuth {
  /** `--user` / `NATS_USER` (with a password), or a token when given alone, as the nats CLI takes it. */
  user?: string;
  /** `--password` / `NATS_PASSWORD`. */
  password?: string;
  /** `--token` / `NATS_TOKEN`. */
  token?: string;
  /** `--creds` / `NATS_CREDS`: a credentials file (user JWT and NKey seed). */
  creds?: string;
  /** `--nkey` / `NATS_NKEY`: a file holding the user's NKey seed. */
  nkey?: string;
  /** `--tlscert` / `NATS_CERT`: client certificate (PEM), with `tlsKey`. */
  tlsCert?: string;
  /** `--tlskey` / `NATS_KEY`: the client certificate's private key (PEM). */
  tlsKey?: string;
  /** `--tlsca` / `NATS_CA`: CA certificates (PEM) the server's certificate must chain to. */
  tlsCa?: string;
}

/** The env variables of {@link NatsAuth}, as the nats CLI reads them. */
export const NATS_AUTH_ENV = {
  user: "NATS_USER",
  password: "NATS_PASSWORD",
  token: "NATS_TOKEN",
  creds: "NATS_CREDS",
  nkey: "NATS_NKEY",
  tlsCert: "NATS_CERT",
  tlsKey: "NATS_KEY",
  tlsCa: "NATS_CA",
} as const satisfies Record<keyof NatsAuth, string>;

const invalid = (message: string): DroverError =>
  new DroverError(ErrorCode.ValidationFailed, message);

/** Throws `validation_failed` for combinations NATS would refuse or silently ignore. */
export function checkAuth(a: NatsAuth): void {
  const ways = [
    a.password !== undefined || (a.user !== undefined && a.token === undefined) ? "user" : null,
    a.token !== undefined ? "token" : null,
    a.creds !== undefined ? "creds" : null,
    a.nkey !== undefined ? "nkey" : null,
  ].filter((w) => w !== null);
  if (ways.length > 1)
    throw invalid(
      `NATS credentials: give one of user/password, token, creds or nkey (got ${ways.join(", ")})`,
    );
  if (a.password !== undefined && a.user === undefined)
    throw invalid("NATS credentials: a password needs a user (--user / NATS_USER)");
  if ((a.tlsCert === undefined) !== (a.tlsKey === undefined))
    throw invalid(
      "NATS TLS: a client certificate and its key go together (--tlscert and --tlskey)",
    );
}

function readAuthFile(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw invalid(
      `NATS ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

/** The first NKey seed (a line starting with "SU") in the text of a seed file. */
function seedOf(text: string, path: string): Uint8Array {
  const seed = /^\s*(SU[A-Z2-7]{56})\s*$/m.exec(text)?.[1];
  if (seed === undefined)
    throw invalid(`NATS nkey file ${path}: no user seed (a line starting with SU)`);
  return new TextEncoder().encode(seed);
}

/** The nats.js connect options for `a` (after {@link checkAuth}). */
export function authOptions(a: NatsAuth): Partial<ConnectionOptions> {
  checkAuth(a);
  const o: Partial<ConnectionOptions> = {};
  if (a.creds !== undefined) o.authenticator = credsAuthenticator(readAuthFile(a.creds, "creds"));
  else if (a.nkey !== undefined) {
    const path = a.nkey;
    o.authenticator = nkeyAuthenticator(
      seedOf(new TextDecoder().decode(readAuthFile(path, "nkey")), path),
    );
  } else if (a.token !== undefined) o.token = a.token;
  else if (a.user !== undefined && a.password === undefined) o.token = a.user;
  else if (a.user !== undefined) {
    o.user = a.user;
    o.pass = a.password;
  }
  if (a.tlsCa !== undefined || a.tlsCert !== undefined) {
    for (const [path, what] of [
      [a.tlsCa, "TLS CA"],
      [a.tlsCert, "TLS certificate"],
      [a.tlsKey, "TLS key"],
    ] as const)
      if (path !== undefined) readAuthFile(path, what);
    o.tls = {
      ...(a.tlsCa !== undefined ? { caFile: a.tlsCa } : {}),
      ...(a.tlsCert !== undefined ? { certFile: a.tlsCert } : {}),
      ...(a.tlsKey !== undefined ? { keyFile: a.tlsKey } : {}),
    };
  }
  return o;
}

/** `a` as NATS_* env variables, for child processes and containers. */
export function authEnv(a: NatsAuth): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, name] of Object.entries(NATS_AUTH_ENV)) {
    const v = a[k as keyof NatsAuth];
    if (v !== undefined) env[name] = v;
  }
  return env;
}
