/**
 * Roles as NATS users with least privilege, against a real nats-server whose users are the ones
 * `drover creds` makes: each role does what it must (an admin sets up, a scheduler and a worker
 * run a task a submitter submitted and waits for), and is refused the rest — the abuses a
 * plain NATS client could commit (forging a completion, faking a worker, stealing the lease,
 * deleting a task's record, taking another worker's assignments) each get "Permissions
 * Violation" for a submitter and for a worker acting for another worker.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { headers } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopChildren, waitForCluster } from "../../src/cli/local.ts";
import { DroverError, resourceNames, subjects } from "../../src/protocol/index.ts";
import { connectNats, DroverClient } from "../../src/runtime/index.ts";
import type { ServerProcess } from "../fixtures/nats-process.ts";
import {
  drover,
  droverProcess,
  expectDenied,
  failure,
  startServer,
  subscribeRefusal,
} from "../fixtures/nats-process.ts";

const prefix = "roles";
const s = subjects(prefix);
const n = resourceNames(prefix);
let dir = "";
let server: ServerProcess;
const procs: ChildProcess[] = [];
const key = (user: string): string => join(dir, "creds", `${user}.nk`);
const as = (user: string): Promise<NatsConnection> =>
  connectNats({
    servers: [server.url],
    name: user,
    reconnectForever: false,
    auth: { nkey: key(user) },
  });

let taskId = "";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "drover-roles-"));
  const made = await drover([
    "creds",
    "--out",
    join(dir, "creds"),
    "--workers",
    "w1,w2",
    "--submitters",
    "alice",
    "--prefix",
    prefix,
  ]);
  expect(made.code, made.out).toBe(0);
  server = await startServer(
    dir,
    // An include is read relative to the including file (which startServer writes into dir).
    `jetstream { store_dir: "${join(dir, "js")}" }\ninclude "creds/auth.conf"\n`,
  );
  const init = await drover([
    "init",
    "--nats",
    server.url,
    "--prefix",
    prefix,
    "--nkey",
    key("admin"),
  ]);
  expect(init.code, init.out).toBe(0);
  const env = { DROVER_NATS_URL: server.url, DROVER_PREFIX: prefix };
  procs.push(
    droverProcess(["scheduler", "--metrics-port", "off", "--nkey", key("scheduler")], env),
    droverProcess(
      ["worker", "--id", "w1", "--metrics-port", "off", "--nkey", key("worker.w1")],
      env,
    ),
  );
});

afterAll(async () => {
  await stopChildren([...procs, server.proc]);
  rmSync(dir, { recursive: true, force: true });
});

describe("roles as NATS users", () => {
  it("the generated configuration refuses anonymous connections", async () => {
    expect(readFileSync(join(dir, "creds", "auth.conf"), "utf8")).not.toMatch(/no_auth_user/);
    const err = await failure(
      connectNats({ servers: [server.url], name: "anon", reconnectForever: false }),
    );
    expect(String(err)).toMatch(/Authorization Violation/i);
  });

  it("a submitter submits and waits through the API alone; a scheduler and a worker run the task", async () => {
    const client = await DroverClient.connect(
      { servers: [server.url], auth: { nkey: key("submitter") } },
      { prefix, timeoutMs: 10_000, submitter: "submitter" },
    );
    try {
      await waitForCluster(client, 1, AbortSignal.timeout(60_000));
      const { id } = await client.submit({ type: "sleep", payload: { ms: 300 } });
      taskId = id;
      const seen: string[] = [];
      const done = await client.wait(id, {
        signal: AbortSignal.timeout(30_000),
        onUpdate: (t) => seen.push(t.state),
      });
      expect(done.state).toBe("succeeded");
      expect(done.result).toEqual({ slept: 300 });
      expect(done.placement?.workerId).toBe("w1");
      expect(seen.at(-1)).toBe("succeeded");
      // `drover watch` as the submitter, who may not read the events stream: it reads the
      // task through the API instead.
      const watched = await drover([
        "watch",
        id,
        "--json",
        "--nats",
        server.url,
        "--prefix",
        prefix,
        "--nkey",
        key("submitter"),
        "--submitter",
        "submitter",
      ]);
      expect(watched.code, watched.out).toBe(0);
      expect(JSON.parse(watched.out.trim().split("\n").at(-1)!)).toEqual({
        total: 1,
        finished: 1,
        byState: { succeeded: 1 },
      });
      // The submitter may not read the tasks bucket (it waited through the API).
      await expectDenied(
        jetstream(client.nc).publish(`$JS.API.STREAM.INFO.KV_${n.buckets.tasks}`),
        "reading the tasks bucket",
      );
    } finally {
      await client.close();
    }
  });

  it("a submitter speaks only for itself: not on the plain subjects, not as another, not on another's task", async () => {
    expect(taskId).not.toBe("");
    const nc = await as("submitter.alice");
    try {
      await expectDenied(
        nc.request(s.api.cancel, JSON.stringify({ id: taskId }), { timeout: 5_000 }),
        "a cancel on the plain subject",
      );
      await expectDenied(
        nc.request(s.apiAs("submitter").retry, JSON.stringify({ id: taskId }), { timeout: 5_000 }),
        "a retry as another submitter",
      );
      // On her own subjects, the replica refuses: the task is not hers.
      const mine = new DroverClient(nc, { prefix, submitter: "alice", timeoutMs: 10_000 });
      const refused = await failure(mine.retry(taskId));
      expect(refused).toBeInstanceOf(DroverError);
      expect((refused as DroverError).code).toBe("forbidden");
      // A task of her own she may cancel.
      const { id } = await mine.submit({ type: "sleep", payload: { ms: 60_000 } });
      expect((await mine.cancel(id)).state).toBe("cancelled");
    } finally {
      await nc.close();
    }
    // The CLI without --submitter says what is missing.
    const cli = await drover([
      "retry",
      taskId,
      "--nats",
      server.url,
      "--prefix",
      prefix,
      "--nkey",
      key("submitter.alice"),
    ]);
    expect(cli.code).not.toBe(0);
    expect(cli.out).toMatch(/Permissions Violation.*--submitter NAME/s);
  });

  it("an observer reads through the API and may not submit", async () => {
    const client = await DroverClient.connect(
      { servers: [server.url], auth: { nkey: key("observer") } },
      { prefix, timeoutMs: 10_000 },
    );
    try {
      expect((await client.workers()).map((w) => w.id)).toEqual(["w1"]);
      await expectDenied(client.submit({ type: "echo", payload: 1 }), "an observer's submit");
    } finally {
      await client.close();
    }
  });

  for (const [who, user] of [
    ["a submitter", "submitter"],
    ["a worker acting for another worker", "worker.w1"],
  ] as const) {
    it(`${who} is refused the four abuses and another worker's assignments`, async () => {
      expect(taskId).not.toBe("");
      const nc = await as(user);
      const js = jetstream(nc);
      try {
        const forged = JSON.stringify({
          v: 1,
          kind: "succeeded",
          taskId,
          epoch: 1,
          workerId: "w2",
          at: Date.now(),
          result: { forged: true },
        });
        await expectDenied(js.publish(s.report("w2", taskId), forged), "a completion as w2");
        await expectDenied(js.publish(s.legacyReport(taskId), forged), "the legacy subject");
        await expectDenied(
          js.publish(`$KV.${n.buckets.workers}.w2`, "{}"),
          "a heartbeat as another worker",
        );
        await expectDenied(js.publish(`$KV.${n.buckets.leader}.leader`, "{}"), "the lease");
        const del = headers();
        del.set("KV-Operation", "DEL");
        await expectDenied(
          js.publish(`$KV.${n.buckets.tasks}.${taskId}`, "", { headers: del }),
          "deleting a task's record",
        );
        const refused = await subscribeRefusal(nc, s.workerAssign("w2"));
        expect(String(refused)).toMatch(/Permissions Violation/);
        expect(String(await subscribeRefusal(nc, s.workerDrain("w2")))).toMatch(
          /Permissions Violation/,
        );
      } finally {
        await nc.close();
      }
      // Nothing changed: the task is as it was.
      const admin = await DroverClient.connect(
        { servers: [server.url], auth: { nkey: key("admin") } },
        { prefix },
      );
      try {
        const t = await admin.get(taskId);
        expect(t.state).toBe("succeeded");
        expect(t.result).toEqual({ slept: 300 });
      } finally {
        await admin.close();
      }
    });
  }

  it("an admin drains a worker through the API: the scheduler passes it on, the worker stops; an observer may not", async () => {
    const w2 = droverProcess(
      ["worker", "--id", "w2", "--metrics-port", "off", "--nkey", key("worker.w2")],
      { DROVER_NATS_URL: server.url, DROVER_PREFIX: prefix },
    );
    procs.push(w2);
    const exited = new Promise<number | null>((r) => w2.once("exit", (code) => r(code)));
    const admin = await DroverClient.connect(
      { servers: [server.url], auth: { nkey: key("admin") } },
      { prefix, timeoutMs: 10_000 },
    );
    const observer = await DroverClient.connect(
      { servers: [server.url], auth: { nkey: key("observer") } },
      { prefix, timeoutMs: 10_000 },
    );
    try {
      await waitForCluster(admin, 2, AbortSignal.timeout(60_000));
      await expectDenied(observer.drain("w2"), "an observer's drain");
      expect(await admin.drain("w2")).toEqual({ ok: true, workerId: "w2", running: 0 });
      expect(await exited).toBe(0);
      // Every replica answers `replicas` (here the one), through the scheduler's reply.
      expect((await observer.replicas()).map((r) => r.role)).toEqual(["leader"]);
    } finally {
      await admin.close();
      await observer.close();
    }
  });
});
