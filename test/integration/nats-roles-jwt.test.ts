/**
 * The roles in NATS's JWT (operator) mode, as `drover creds --jwt` makes them, against a real
 * nats-server: the fixed roles run a task, and workers are users minted by a scoped signing key
 * whose template grants each only its own subjects — so a worker minted after the server
 * started (as the autoscaler or a KEDA-scaled pod would be) joins without any change to the
 * server, and still cannot speak for another worker.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopChildren, waitForCluster } from "../../src/cli/local.ts";
import { resourceNames, subjects } from "../../src/protocol/index.ts";
import { connectNats, DroverClient } from "../../src/runtime/index.ts";
import type { ServerProcess } from "../fixtures/nats-process.ts";
import {
  drover,
  droverProcess,
  expectDenied,
  startServer,
  subscribeRefusal,
} from "../fixtures/nats-process.ts";

const prefix = "rolesjwt";
let dir = "";
let server: ServerProcess;
const procs: ChildProcess[] = [];
const creds = (user: string): string => join(dir, "creds", `${user}.creds`);
let client: DroverClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "drover-roles-jwt-"));
  const made = await drover([
    "creds",
    "--jwt",
    "--out",
    join(dir, "creds"),
    "--workers",
    "w1",
    "--prefix",
    prefix,
  ]);
  expect(made.code, made.out).toBe(0);
  server = await startServer(
    dir,
    `jetstream { store_dir: "${join(dir, "js")}" }\ninclude "creds/server.conf"\n`,
  );
  const init = await drover([
    "init",
    "--nats",
    server.url,
    "--prefix",
    prefix,
    "--creds",
    creds("admin"),
  ]);
  expect(init.code, init.out).toBe(0);
  const env = { DROVER_NATS_URL: server.url, DROVER_PREFIX: prefix };
  procs.push(
    droverProcess(["scheduler", "--metrics-port", "off", "--creds", creds("scheduler")], env),
    droverProcess(
      ["worker", "--id", "w1", "--metrics-port", "off", "--creds", creds("worker.w1")],
      env,
    ),
  );
  client = await DroverClient.connect(
    { servers: [server.url], auth: { creds: creds("submitter") } },
    { prefix, timeoutMs: 10_000 },
  );
  await waitForCluster(client, 1, AbortSignal.timeout(60_000));
});

afterAll(async () => {
  await client?.close();
  await stopChildren([...procs, server.proc]);
  rmSync(dir, { recursive: true, force: true });
});

describe("roles in JWT mode", () => {
  it("a worker minted after the server started joins without a server change and runs tasks", async () => {
    const minted = await drover([
      "creds",
      "--jwt",
      "--signer",
      join(dir, "creds", "worker-signer.json"),
      "--workers",
      "w9",
      "--out",
      join(dir, "creds"),
    ]);
    expect(minted.code, minted.out).toBe(0);
    procs.push(
      droverProcess(
        [
          "worker",
          "--id",
          "w9",
          "--metrics-port",
          "off",
          "--creds",
          creds("worker.w9"),
          "--label",
          "only=w9",
        ],
        {
          DROVER_NATS_URL: server.url,
          DROVER_PREFIX: prefix,
        },
      ),
    );
    const { id } = await client.submit({ type: "echo", payload: "on w9", labels: { only: "w9" } });
    const done = await client.wait(id, { signal: AbortSignal.timeout(30_000) });
    expect(done.state).toBe("succeeded");
    expect(done.placement?.workerId).toBe("w9");
    const first = await client.submit({ type: "echo", payload: "on w1" });
    expect((await client.wait(first.id, { signal: AbortSignal.timeout(30_000) })).state).toBe(
      "succeeded",
    );
  });

  it("a worker's user is bound to its name: w1 cannot report, heartbeat or take assignments as w2", async () => {
    const nc = await connectNats({
      servers: [server.url],
      name: "w1",
      reconnectForever: false,
      auth: { creds: creds("worker.w1") },
    });
    try {
      const js = jetstream(nc);
      const s = subjects(prefix);
      await expectDenied(js.publish(s.report("w2", "t1"), "{}"), "a report as w2");
      await expectDenied(
        js.publish(`$KV.${resourceNames(prefix).buckets.workers}.w2`, "{}"),
        "a heartbeat as w2",
      );
      await expectDenied(
        js.publish(`$KV.${resourceNames(prefix).buckets.tasks}.t1`, "{}"),
        "a task record",
      );
      expect(String(await subscribeRefusal(nc, s.workerAssign("w2")))).toMatch(
        /Permissions Violation/,
      );
    } finally {
      await nc.close();
    }
  });
});
