/**
 * The dashboard end to end, in headless Chromium (Debian's, driven by playwright-core) against
 * `drover up` as a user starts it: the banner's URL opens the page; tasks submitted from the page
 * reach `succeeded` on it without a reload; a task's page explains its placement; a running task
 * is cancelled and a worker drained from the page. Screenshots go to .drover/screenshots/.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { get as httpGet } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Locator, Page } from "playwright-core";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/cli/local.ts";
import { DroverClient } from "../../src/runtime/index.ts";
import { bannerOf, ownUpArgs, root, startUp } from "../fixtures/drover-up.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const shots = join(root, ".drover", "screenshots");
/** How long the page may take to show a change (a loaded 2-core machine; it is usually < 1 s). */
const WAIT = { timeout: 15_000 };

/**
 * An attribute of every element a locator matches, in order, read in one step in the page (a
 * locator per element would wait for an element that a re-render has just removed).
 */
async function attrs(l: Locator, name: string): Promise<(string | null)[]> {
  type El = { getAttribute(n: string): string | null };
  return await l.evaluateAll(
    (els: unknown[], n: string) => (els as El[]).map((e) => e.getAttribute(n)),
    name,
  );
}

describe("dashboard (headless Chromium)", () => {
  let up: Awaited<ReturnType<typeof startUp>>;
  let dir: string;
  let url: string;
  let browser: Browser;
  let page: Page;
  let client: DroverClient;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "drover-dash-"));
    mkdirSync(shots, { recursive: true });
    up = await startUp(ownUpArgs(await freePort(), dir));
    const banner = bannerOf(up.out());
    expect(banner.dashboard).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(up.out()).toContain(`Dashboard: ${banner.dashboard}`);
    url = banner.dashboard!;
    client = await DroverClient.connect({ servers: [banner.nats] });
    // Flags as a root sandbox with no network needs them (no background connections).
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on("dialog", (d) => void d.accept());
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await client?.close();
    const code = await up?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    expect(code).toBe(0);
  });

  it("shows the cluster: the leader and its term, both replicas and both workers", async () => {
    await page.goto(url);
    await expect.poll(() => page.getByTestId("live").textContent(), WAIT).toBe("live");
    const health = await client.health();
    await expect
      .poll(() => page.getByTestId("leader").textContent(), WAIT)
      .toMatch(/^leader scheduler-[12] · term \d+ · 2 replicas · 2 workers$/);
    expect(await page.getByTestId("leader").textContent()).toContain(`${health.leaderId}`);
    expect(await page.getByTestId("replica-row").count()).toBe(2);
    // A page of another name pointed at this address (DNS rebinding) reads nothing.
    const status = await new Promise<number>((resolve, reject) =>
      httpGet(new URL("api/overview", url), { headers: { host: "rebound.example:80" } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on("error", reject),
    );
    expect(status).toBe(403);
    expect(await attrs(page.getByTestId("worker-row"), "data-id")).toEqual([
      "worker-1",
      "worker-2",
    ]);
  });

  it("submits tasks from the page and shows them reach succeeded live, without a reload", async () => {
    // A mark on the window: a reload would lose it.
    await page.evaluate(() => ((globalThis as unknown as { mark: number }).mark = 42));
    const form = page.getByTestId("submit-form");
    await form.locator('input[name="type"]').fill("echo");
    await form.locator('textarea[name="payload"]').fill('{"from":"the dashboard"}');
    await form.locator('input[name="count"]').fill("5");
    await page.getByTestId("submit").click();
    await expect
      .poll(() => page.getByTestId("flash").textContent(), WAIT)
      .toBe("Submitted 5 tasks.");
    await expect
      .poll(() => page.locator('[data-testid="task-row"][data-state="succeeded"]').count(), WAIT)
      .toBe(5);
    // Tasks submitted elsewhere appear, run and finish on the page through its live stream
    // alone (the page re-reads its task list only when events say something changed).
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await client.submit({ type: "sleep", payload: { ms: 1_500 } })).id);
    const stateOf = (id: string) =>
      page
        .locator(`[data-testid="task-row"][data-id="${id}"]`)
        .getAttribute("data-state", { timeout: 1_000 });
    await expect.poll(() => stateOf(ids[0]!).catch(() => null), WAIT).toBe("running");
    for (const id of ids)
      await expect.poll(() => stateOf(id).catch(() => null), WAIT).toBe("succeeded");
    expect(await page.evaluate(() => (globalThis as unknown as { mark?: number }).mark)).toBe(42);
    await expect
      .poll(() => page.getByTestId("count-succeeded").textContent(), WAIT)
      .toBe("succeeded 8");
    await page.screenshot({ path: join(shots, "dashboard-cluster.png"), fullPage: true });
  });

  it("opens a task's page with its placement: every candidate, and the chosen worker", async () => {
    const row = page
      .locator('[data-testid="task-row"][data-state="succeeded"]', { hasText: "echo" })
      .first();
    const id = (await row.getAttribute("data-id"))!;
    await row.locator("a").click();
    await expect.poll(() => page.getByTestId("task").getAttribute("data-id"), WAIT).toBe(id);
    const record = await client.get(id);
    expect(record.placement).not.toBeNull();
    const placement = page.getByTestId("placement");
    expect(await placement.textContent()).toContain(`Strategy ${record.placement!.strategy}`);
    expect(await page.getByTestId("placed-on").textContent()).toBe(record.workerId);
    const rows = page.getByTestId("candidate");
    const classes = await attrs(rows, "class");
    const candidates = (await attrs(rows, "data-worker")).map((worker, i) => ({
      worker,
      chosen: classes[i],
    }));
    expect(candidates.map((c) => c.worker).sort()).toEqual(
      record.placement!.candidates.map((c) => c.workerId).sort(),
    );
    expect(candidates.filter((c) => c.chosen === "chosen")).toEqual([
      { worker: record.workerId, chosen: "chosen" },
    ]);
    // The timeline: every state change of the record, in order, ending in succeeded.
    const changes = await page.getByTestId("history-entry").allTextContents();
    expect(changes).toHaveLength(record.history.length);
    record.history.forEach((e, i) => expect(changes[i]).toContain(`${e.from} → ${e.to}${e.event}`));
    expect(changes[0]).toContain("queued → assigned");
    expect(changes.at(-1)).toMatch(/→ succeededSUCCEED/);
    expect(await page.getByTestId("result").textContent()).toContain("the dashboard");
    await page.screenshot({ path: join(shots, "dashboard-task.png"), fullPage: true });
  });

  it("finds a task by its id or its idempotency key", async () => {
    const { id } = await client.submit({ type: "echo", idempotencyKey: "dash-order-1" });
    for (const q of ["dash-order-1", id]) {
      await page.goto(url);
      await page.getByTestId("search").locator('input[name="q"]').fill(q);
      await page.getByTestId("search").locator("button").click();
      await expect.poll(() => page.getByTestId("task").getAttribute("data-id"), WAIT).toBe(id);
    }
    await page.goto(url);
    await page.getByTestId("search").locator('input[name="q"]').fill("no-such-key");
    await page.getByTestId("search").locator("button").click();
    await expect.poll(() => page.getByTestId("flash").textContent(), WAIT).toMatch(/No task with/);
  });

  it("cancels a running task from its page", async () => {
    const { id } = await client.submit({ type: "sleep", payload: { ms: 120_000, steps: 120 } });
    await page.goto(`${url}#/tasks/${id}`);
    await expect
      .poll(() => page.getByTestId("task").getAttribute("data-state"), WAIT)
      .toBe("running");
    await page.getByTestId("cancel").click();
    await expect
      .poll(() => page.getByTestId("task").getAttribute("data-state"), WAIT)
      .toBe("cancelled");
    expect((await client.get(id)).state).toBe("cancelled");
  });

  it("drains a worker from the cluster view: it stops, and the other runs what comes next", async () => {
    await page.goto(url);
    await page
      .locator('[data-testid="worker-row"][data-id="worker-2"] [data-testid="drain"]')
      .click();
    await expect
      .poll(() => page.getByTestId("flash").textContent(), WAIT)
      .toMatch(/worker-2 is draining/);
    await expect
      .poll(async () => (await client.workers()).map((w) => w.id), WAIT)
      .toEqual(["worker-1"]);
    try {
      await expect
        .poll(() => attrs(page.getByTestId("worker-row"), "data-id"), WAIT)
        .toEqual(["worker-1"]);
    } catch (err) {
      // What the page, its replica and the worker said, to tell a stale page from a stale replica.
      const overview = await fetch(new URL("api/overview", url))
        .then(async (r) => `${r.status} ${(await r.text()).slice(0, 2_000)}`)
        .catch((e: unknown) => String(e));
      const log = (name: string): string => {
        try {
          return readFileSync(join(dir, "logs", `${name}.log`), "utf8").slice(-3_000);
        } catch (e) {
          return String(e);
        }
      };
      throw new Error(
        `${String(err)}\nflash: ${await page.getByTestId("flash").textContent()}\noverview: ${overview}\nworker-2 log: ${log("worker-2")}\nscheduler-1 log: ${log("scheduler-1")}\nup: ${up.out().slice(-2_000)}`,
        { cause: err },
      );
    }
    const { id } = await client.submit({ type: "echo", payload: 1 });
    expect((await client.wait(id, { signal: AbortSignal.timeout(15_000) })).workerId).toBe(
      "worker-1",
    );
  });

  it("shows each schedule with its last and next fire", async () => {
    // Last, so that its tasks change no count the other cases read.
    await client.schedules.create({ id: "dash", task: { type: "echo" }, everyMs: 1_000 });
    await expect
      .poll(async () => (await client.schedules.get("dash")).state.runs, WAIT)
      .toBeGreaterThan(0);
    const row = page.locator('[data-testid="schedule-row"][data-id="dash"]');
    // The cluster view is re-read every 3 s: the row appears, then shows runs.
    await expect.poll(() => row.getAttribute("data-state"), WAIT).toBe("active");
    await expect
      .poll(async () => Number(await row.getByTestId("runs").textContent()), WAIT)
      .toBeGreaterThan(0);
    expect(await row.getByTestId("last-fire").textContent()).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);
    expect(await row.getByTestId("next-fire").textContent()).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);
    await client.schedules.pause("dash");
    await expect.poll(() => row.getAttribute("data-state"), WAIT).toBe("paused");
    expect(await row.getByTestId("next-fire").textContent()).toBe("—");
    await client.schedules.delete("dash");
  });
});
