/**
 * Credentials and TLS against a real nats-server process that requires them: user and
 * password, an NKey seed file, a token, and TLS with a client certificate. Every Drover process
 * (CLI, scheduler with its lease thread, worker) authenticates from the nats CLI's flags or env
 * variables; a connection without them is refused with a clear, non-retryable error.
 */
import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createUser } from "@nats-io/nkeys";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mainScript, stopChildren, waitForCluster } from "../../src/cli/local.ts";
import { DroverError } from "../../src/protocol/index.ts";
import type { NatsAuth } from "../../src/runtime/index.ts";
import {
  connectNats,
  DroverClient,
  newOperatorSeeds,
  operatorServerConfig,
  roleCreds,
} from "../../src/runtime/index.ts";
import type { ServerProcess } from "../fixtures/nats-process.ts";
import { drover, startServer as startNatsProcess } from "../fixtures/nats-process.ts";
import { uniquePrefix } from "../fixtures/prefix.ts";

let dir = "";
const servers: ServerProcess[] = [];

async function startServer(conf: string, scheme = "nats"): Promise<ServerProcess> {
  const s = await startNatsProcess(dir, conf, scheme);
  servers.push(s);
  return s;
}

const refusal = async (p: Promise<unknown>): Promise<DroverError> => {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DroverError);
  return err as DroverError;
};

const nkeyUser = createUser();
let users: ServerProcess;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "drover-auth-"));
  writeFileSync(join(dir, "user.nk"), `${new TextDecoder().decode(nkeyUser.getSeed())}\n`);
  users = await startServer(
    `jetstream { store_dir: "${join(dir, "js")}" }\n` +
      `authorization { users = [\n` +
      `  { user: alice, password: "s3cret" }\n` +
      `  { nkey: ${nkeyUser.getPublicKey()} }\n` +
      `] }\n`,
  );
});

afterAll(async () => {
  await stopChildren(servers.map((s) => s.proc));
  rmSync(dir, { recursive: true, force: true });
});

describe("NATS credentials", () => {
  it("a connection without credentials is refused with a clear, non-retryable error", async () => {
    const err = await refusal(
      connectNats({ servers: [users.url], name: "t", reconnectForever: false }),
    );
    expect(err.message).toMatch(/Authorization Violation/i);
    expect(err.message).toContain("--user/--password");
    expect(err.retryable).toBe(false);
    const wrong = await refusal(
      connectNats({
        servers: [users.url],
        name: "t",
        reconnectForever: false,
        auth: { user: "alice", password: "nope" },
      }),
    );
    expect(wrong.message).toMatch(/Authorization Violation/i);
  });

  it("user and password, and an NKey seed file, connect", async () => {
    for (const auth of [
      { user: "alice", password: "s3cret" },
      { nkey: join(dir, "user.nk") },
    ] satisfies NatsAuth[]) {
      const nc = await connectNats({
        servers: [users.url],
        name: "t",
        reconnectForever: false,
        auth,
      });
      expect(nc.info?.server_id).toBeTruthy();
      await nc.close();
    }
  });

  it("a scheduler (with its lease thread) and a worker run a task, authenticated from the nats CLI's env variables; the CLI takes the flags", async () => {
    const prefix = uniquePrefix("auth");
    const env = {
      DROVER_NATS_URL: users.url,
      DROVER_PREFIX: prefix,
      NATS_USER: "alice",
      NATS_PASSWORD: "s3cret",
    };
    const procs = [
      spawn(process.execPath, [mainScript, "scheduler", "--metrics-port", "off"], {
        env: { ...process.env, DROVER_LOG_LEVEL: "warn", ...env },
        stdio: "ignore",
      }),
      spawn(process.execPath, [mainScript, "worker", "--metrics-port", "off"], {
        env: { ...process.env, DROVER_LOG_LEVEL: "warn", ...env },
        stdio: "ignore",
      }),
    ];
    try {
      const client = await DroverClient.connect(
        { servers: [users.url], auth: { nkey: join(dir, "user.nk") } },
        { prefix, timeoutMs: 10_000 },
      );
      try {
        await waitForCluster(client, 1, new AbortController().signal);
        const { id } = await client.submit({ type: "echo", payload: { hi: 1 } });
        const done = await client.wait(id, { signal: AbortSignal.timeout(30_000) });
        expect(done.state).toBe("succeeded");
        expect(done.result).toEqual({ hi: 1 });
      } finally {
        await client.close();
      }
      const ok = await drover([
        "health",
        "--nats",
        users.url,
        "--prefix",
        prefix,
        "--user",
        "alice",
        "--password",
        "s3cret",
      ]);
      expect(ok.code, ok.out).toBe(0);
      const refused = await drover(["health", "--nats", users.url, "--prefix", prefix]);
      expect(refused.code).not.toBe(0);
      expect(refused.out).toMatch(/Authorization Violation/i);
    } finally {
      await stopChildren(procs);
    }
  });

  it("a token, given as --token or (as the nats CLI takes it) as a user alone", async () => {
    const tokens = await startServer(`authorization { token: "t0ken-42" }\n`);
    for (const auth of [{ token: "t0ken-42" }, { user: "t0ken-42" }] satisfies NatsAuth[]) {
      const nc = await connectNats({
        servers: [tokens.url],
        name: "t",
        reconnectForever: false,
        auth,
      });
      await nc.close();
    }
    await refusal(
      connectNats({
        servers: [tokens.url],
        name: "t",
        reconnectForever: false,
        auth: { token: "x" },
      }),
    );
  });

  it("a .creds file in JWT (operator) mode: drover health sets up the streams with it, and is refused without", async () => {
    // The operator, accounts and an admin user's creds, as `drover creds --jwt` makes them.
    const seeds = newOperatorSeeds();
    const serverConf = operatorServerConfig(seeds, "drover");
    const creds = roleCreds(seeds, "admin", "drover");
    writeFileSync(join(dir, "drover.creds"), creds);
    const jwtServer = await startServer(
      `${serverConf}jetstream { store_dir: "${join(dir, "js-jwt")}" }\n`,
    );
    const prefix = uniquePrefix("creds");
    const ok = await drover([
      "health",
      "--nats",
      jwtServer.url,
      "--prefix",
      prefix,
      "--creds",
      join(dir, "drover.creds"),
    ]);
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toContain('"healthy":true');
    const refused = await drover(["health", "--nats", jwtServer.url, "--prefix", prefix]);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toMatch(/Authorization Violation/i);
  });

  it("TLS with a client certificate: connects with CA, certificate and key; refused without the certificate", async () => {
    const ssl = (args: string[]): void => {
      execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
    };
    const subj = (cn: string): string[] => ["-subj", `/CN=${cn}`];
    ssl([
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      ...subj("drover-test-ca"),
    ]);
    writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    for (const name of ["server", "client"]) {
      ssl([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.csr`,
        ...subj(name),
      ]);
      ssl([
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        `${name}.pem`,
        ...(name === "server" ? ["-extfile", "san.ext"] : []),
      ]);
    }
    const tls = await startServer(
      `tls { cert_file: "${join(dir, "server.pem")}", key_file: "${join(dir, "server.key")}", ` +
        `ca_file: "${join(dir, "ca.pem")}", verify: true }\n`,
      "tls",
    );
    const full: NatsAuth = {
      tlsCa: join(dir, "ca.pem"),
      tlsCert: join(dir, "client.pem"),
      tlsKey: join(dir, "client.key"),
    };
    const nc = await connectNats({
      servers: [tls.url],
      name: "t",
      reconnectForever: false,
      auth: full,
    });
    expect(nc.info?.tls_required).toBe(true);
    await nc.close();
    await refusal(
      connectNats({
        servers: [tls.url],
        name: "t",
        reconnectForever: false,
        timeoutMs: 2_000,
        auth: { tlsCa: full.tlsCa! },
      }),
    );
  });
});
