// Drover's dashboard: one page, no framework, no build step. It reads and acts through the
// replica's JSON API under `api/` (which asks the Drover API over NATS) and follows the
// cluster's events from `api/events` (Server-Sent Events) to update what it shows.
// Every value from the cluster is put on the page as text, never as HTML.

const PAGE_SIZE = 50;
const main = document.getElementById("main");
const flash = document.getElementById("flash");

/** Creates an element: attributes (on* are listeners) and children (strings become text). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

async function api(path, init) {
  const res = await fetch(path, init);
  const body = await res.json().catch(() => null);
  if (!res.ok || body === null || body.ok === false) {
    const e = body?.error ?? { code: "internal", message: `HTTP ${res.status}` };
    const issues = (e.issues ?? []).map((i) => `${i.path || "(body)"}: ${i.message}`);
    throw new Error(`${e.code}: ${e.message}${issues.length ? ` (${issues.join("; ")})` : ""}`);
  }
  return body;
}

const post = (path, body) =>
  api(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });

function say(text, error = false) {
  flash.textContent = text;
  flash.className = error ? "error" : "";
}

const badge = (s) => h("span", { class: `badge s-${s}`, "data-state": s }, s);
/** A time: hours to milliseconds when it is today, else the date as well. */
function when(ms) {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(ms);
  const time = `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, "0")}`;
  return d.toDateString() === new Date().toDateString()
    ? time
    : `${d.toLocaleDateString()} ${time}`;
}

/** A strategy's score, short. */
const score = (x) => (x === null ? "—" : Number.isInteger(x) ? String(x) : x.toPrecision(4));
const json = (v) => h("pre", {}, JSON.stringify(v, null, 2));

function ago(ms, now = Date.now()) {
  const d = Math.max(0, now - ms);
  if (d < 1_000) return `${d} ms ago`;
  if (d < 60_000) return `${(d / 1_000).toFixed(1)} s ago`;
  if (d < 3_600_000) return `${Math.round(d / 60_000)} min ago`;
  return `${Math.round(d / 3_600_000)} h ago`;
}

// ---------------------------------------------------------------------------------------------
// State

const view = {
  /** The latest overview reply. */
  overview: null,
  /** Task list filter and pages: cursors[i] opens page i. */
  filter: { state: "", type: "" },
  cursors: [null],
  page: 0,
  nextCursor: null,
  /** The task page's id, when one is open. */
  taskId: null,
  terminal: ["succeeded", "failed", "dead", "cancelled", "timed_out"],
};

// ---------------------------------------------------------------------------------------------
// Cluster

function leaderOf(replicas) {
  return replicas.find((r) => r.role === "leader") ?? null;
}

function renderHeader() {
  const el = document.getElementById("leader");
  const o = view.overview;
  if (o === null) return;
  const leader = leaderOf(o.replicas);
  el.textContent =
    leader !== null
      ? `leader ${leader.replicaId} · term ${leader.term} · ${o.replicas.length} replicas · ${o.workers.length} workers`
      : `no leader (${o.replicas.length} replicas answer) · ${o.workers.length} workers`;
}

function clusterSection() {
  const o = view.overview;
  if (o === null) return h("section", { id: "cluster" }, h("h2", {}, "Cluster"), "loading…");
  const now = o.at;
  const replicas = h(
    "table",
    { "data-testid": "replicas" },
    h(
      "tr",
      {},
      ["replica", "role", "term", "leader it knows", "memory", "event-loop p99"].map((t) =>
        h("th", {}, t),
      ),
    ),
    o.replicas.map((r) =>
      h(
        "tr",
        { "data-testid": "replica-row", "data-id": r.replicaId },
        h("td", { class: "mono" }, r.replicaId),
        h("td", {}, r.role === "leader" ? h("strong", {}, "leader") : r.role),
        h("td", { class: "num" }, r.term ?? "—"),
        h("td", { class: "mono" }, r.leaderId ?? "—"),
        h(
          "td",
          { class: "num" },
          r.process ? `${Math.round(r.process.rssBytes / 1_048_576)} MiB` : "—",
        ),
        h(
          "td",
          { class: "num" },
          r.process ? `${r.process.eventLoopDelayP99Ms.toFixed(1)} ms` : "—",
        ),
      ),
    ),
  );
  const workers = h(
    "table",
    { "data-testid": "workers" },
    h(
      "tr",
      {},
      [
        "worker",
        "pool",
        "state",
        "slots",
        "cpu",
        "memory MB",
        "labels",
        "running",
        "heartbeat",
        "",
      ].map((t) => h("th", {}, t)),
    ),
    o.workers.map((w) =>
      h(
        "tr",
        { "data-testid": "worker-row", "data-id": w.id },
        h("td", { class: "mono" }, w.id),
        h("td", {}, w.pool),
        h("td", {}, badge(w.state)),
        h("td", { class: "num" }, `${w.used.slots} / ${w.capacity.slots}`),
        h("td", { class: "num" }, `${w.used.cpu} / ${w.capacity.cpu}`),
        h("td", { class: "num" }, `${w.used.memoryMb} / ${w.capacity.memoryMb}`),
        h(
          "td",
          { class: "mono" },
          Object.entries(w.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(" ") || "—",
        ),
        h("td", { class: "num" }, w.running.length),
        h("td", { class: "num" }, ago(w.heartbeatAt, now)),
        h(
          "td",
          {},
          h(
            "button",
            {
              class: "secondary",
              "data-testid": "drain",
              disabled: w.state === "draining",
              title:
                "no new work; running tasks finish within the worker's grace period; then it stops",
              onclick: () => drainWorker(w.id),
            },
            "Drain",
          ),
        ),
      ),
    ),
  );
  const pools =
    o.pools.length === 0
      ? null
      : h(
          "table",
          { "data-testid": "pools" },
          h(
            "tr",
            {},
            ["pool", "ready", "draining", "min..max", "last decision"].map((t) => h("th", {}, t)),
          ),
          o.pools.map((p) =>
            h(
              "tr",
              {},
              h("td", {}, p.pool),
              h("td", { class: "num" }, p.ready),
              h("td", { class: "num" }, p.draining),
              h(
                "td",
                { class: "num" },
                p.policy ? `${p.policy.scale.min}..${p.policy.scale.max}` : "no policy",
              ),
              h(
                "td",
                {},
                p.decision
                  ? `${when(p.decision.at)}: ${p.decision.previous} → ${p.decision.desired} (${p.decision.reason})`
                  : "—",
              ),
            ),
          ),
        );
  const schedules =
    (o.schedules ?? []).length === 0
      ? null
      : h(
          "table",
          { "data-testid": "schedules" },
          h(
            "tr",
            {},
            ["schedule", "task", "when", "state", "last fire", "next fire", "runs", "skipped"].map(
              (t) => h("th", {}, t),
            ),
          ),
          o.schedules.map((s) => {
            const last = s.state.recent.at(-1);
            const state = s.paused ? "paused" : s.state.nextTick === null ? "done" : "active";
            return h(
              "tr",
              { "data-testid": "schedule-row", "data-id": s.id, "data-state": state },
              h("td", {}, s.id),
              h("td", {}, s.spec.task.type),
              h("td", {}, scheduleWhen(s.spec)),
              h("td", {}, state),
              h(
                "td",
                { "data-testid": "last-fire", title: last ? `task ${last.taskId}` : "" },
                last ? when(last.firedAt) : "—",
              ),
              h("td", { "data-testid": "next-fire" }, s.paused ? "—" : when(s.state.nextTick)),
              h("td", { class: "num", "data-testid": "runs" }, s.state.runs),
              h(
                "td",
                { class: "num", title: s.state.lastSkip ? `last: ${s.state.lastSkip.reason}` : "" },
                s.state.skipped,
              ),
            );
          }),
        );
  return h(
    "section",
    { id: "cluster" },
    h("h2", {}, "Cluster"),
    h("div", { class: "grid" }, h("div", {}, h("h3", {}, "Scheduler replicas"), replicas)),
    h("h3", {}, "Workers"),
    o.workers.length === 0 ? h("p", { class: "muted" }, "No live worker.") : workers,
    pools && [h("h3", {}, "Pools and the autoscaler's decisions"), pools],
    schedules && [h("h3", {}, "Schedules"), schedules],
  );
}

/** When a schedule fires, in words. */
function scheduleWhen(spec) {
  if (spec.cron !== undefined)
    return `cron ${spec.cron}${spec.timezone === "UTC" ? "" : ` (${spec.timezone})`}`;
  if (spec.everyMs !== undefined) return `every ${spec.everyMs} ms`;
  return `at ${when(typeof spec.at === "number" ? spec.at : Date.parse(spec.at))}`;
}

async function drainWorker(id) {
  if (!confirm(`Drain worker ${id}? It takes no new work, finishes what it runs, then stops.`))
    return;
  try {
    const r = await post(`api/workers/${encodeURIComponent(id)}/drain`);
    say(`Worker ${id} is draining (${r.running} tasks running).`);
    await loadOverview();
  } catch (err) {
    say(`Drain failed: ${err.message}`, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Tasks

function countsOf() {
  const o = view.overview;
  const r = o === null ? null : (leaderOf(o.replicas) ?? o.replicas[0] ?? null);
  return r?.tasks ?? {};
}

/** Task counts by state, each a button that filters the list. */
function countChips() {
  const counts = countsOf();
  const states = view.overview?.states ?? Object.keys(counts);
  return h(
    "div",
    { class: "chips", "data-testid": "counts" },
    h(
      "button",
      { class: view.filter.state === "" ? "active" : "", onclick: () => setFilter({ state: "" }) },
      "all",
    ),
    states.map((s) =>
      h(
        "button",
        {
          class: view.filter.state === s ? "active" : "",
          "data-testid": `count-${s}`,
          onclick: () => setFilter({ state: s }),
        },
        `${s} `,
        h("strong", {}, counts[s] ?? 0),
      ),
    ),
  );
}

function tasksSection() {
  const states = view.overview?.states ?? Object.keys(countsOf());
  const filter = h(
    "form",
    {
      class: "inline",
      "data-testid": "filter",
      onsubmit: (e) => {
        e.preventDefault();
        const f = new FormData(e.target);
        setFilter({ state: f.get("state"), type: f.get("type").trim() });
      },
    },
    h(
      "label",
      {},
      "state",
      h(
        "select",
        { name: "state" },
        h("option", { value: "" }, "any"),
        states.map((s) => h("option", { value: s, selected: view.filter.state === s }, s)),
      ),
    ),
    h(
      "label",
      {},
      "type",
      h("input", { name: "type", value: view.filter.type, placeholder: "any" }),
    ),
    h("button", { type: "submit" }, "Filter"),
  );
  const search = h(
    "form",
    {
      class: "inline",
      "data-testid": "search",
      onsubmit: (e) => {
        e.preventDefault();
        void find(new FormData(e.target).get("q").trim());
      },
    },
    h(
      "label",
      {},
      "find a task",
      h("input", { name: "q", size: 36, placeholder: "task id or idempotency key" }),
    ),
    h("button", { type: "submit" }, "Find"),
  );
  const submit = h(
    "form",
    {
      class: "inline",
      "data-testid": "submit-form",
      onsubmit: (e) => {
        e.preventDefault();
        void submitTask(new FormData(e.target));
      },
    },
    h("label", {}, "type", h("input", { name: "type", required: true, value: "echo", size: 12 })),
    h(
      "label",
      {},
      "payload (JSON)",
      h("textarea", { name: "payload", rows: 1, cols: 36 }, '{"hello":"world"}'),
    ),
    h(
      "label",
      {},
      "priority",
      h("input", { name: "priority", type: "number", value: 0, class: "narrow" }),
    ),
    h(
      "label",
      {},
      "count",
      h("input", { name: "count", type: "number", value: 1, min: 1, max: 100, class: "tiny" }),
    ),
    h("button", { type: "submit", "data-testid": "submit" }, "Submit"),
  );
  return h(
    "section",
    { id: "tasks" },
    h("h2", {}, "Tasks"),
    countChips(),
    h("div", { class: "grid" }, filter, search),
    h("h3", {}, "Submit"),
    submit,
    h("div", { id: "task-table" }, "loading…"),
  );
}

function setFilter(f) {
  view.filter = { ...view.filter, ...f };
  view.cursors = [null];
  view.page = 0;
  renderHome();
}

async function find(q) {
  if (q === "") return;
  // An id first; failing that, an idempotency key.
  for (const path of [
    `api/tasks/${encodeURIComponent(q)}`,
    `api/tasks?idempotencyKey=${encodeURIComponent(q)}`,
  ]) {
    if (path.startsWith("api/tasks/") && !/^[A-Za-z0-9_-]{1,128}$/.test(q)) continue;
    try {
      const r = await api(path);
      location.hash = `#/tasks/${r.task.id}`;
      return;
    } catch {
      // try the next way
    }
  }
  say(`No task with id or idempotency key ${JSON.stringify(q)}.`, true);
}

async function submitTask(form) {
  let payload;
  try {
    const text = form.get("payload").trim();
    payload = text === "" ? null : JSON.parse(text);
  } catch (err) {
    say(`The payload is not JSON: ${err.message}`, true);
    return;
  }
  const n = Math.max(1, Math.min(100, Number(form.get("count")) || 1));
  const req = {
    type: form.get("type").trim(),
    payload,
    priority: Number(form.get("priority")) || 0,
  };
  try {
    const ids = [];
    for (let i = 0; i < n; i++) ids.push((await post("api/tasks", req)).id);
    say(n === 1 ? `Submitted task ${ids[0]}.` : `Submitted ${n} tasks.`);
    await loadTasks();
  } catch (err) {
    say(`Submit refused: ${err.message}`, true);
  }
}

async function loadTasks() {
  const el = document.getElementById("task-table");
  if (el === null) return;
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (view.filter.state) q.set("state", view.filter.state);
  if (view.filter.type) q.set("type", view.filter.type);
  const cursor = view.cursors[view.page];
  if (cursor) q.set("cursor", cursor);
  let r;
  try {
    r = await api(`api/tasks?${q}`);
  } catch (err) {
    el.replaceChildren(h("p", { class: "error" }, `Cannot list tasks: ${err.message}`));
    return;
  }
  view.nextCursor = r.nextCursor;
  const table = h(
    "table",
    { "data-testid": "task-table" },
    h(
      "tr",
      {},
      ["task", "type", "state", "attempt", "worker", "created", "updated"].map((t) =>
        h("th", {}, t),
      ),
    ),
    r.tasks.map((t) =>
      h(
        "tr",
        {
          "data-testid": "task-row",
          "data-id": t.id,
          "data-state": t.state,
          "data-at": t.updatedAt,
        },
        h("td", { class: "mono" }, h("a", { href: `#/tasks/${t.id}` }, t.id)),
        h("td", {}, t.type),
        h("td", { class: "state" }, badge(t.state)),
        h("td", { class: "num attempt" }, t.attempt),
        h("td", { class: "mono worker" }, t.workerId ?? "—"),
        h("td", {}, when(t.createdAt)),
        h("td", { class: "updated" }, when(t.updatedAt)),
      ),
    ),
  );
  const pager = h(
    "div",
    { class: "pager" },
    h(
      "button",
      {
        class: "secondary",
        disabled: view.page === 0,
        onclick: () => turn(-1),
        "data-testid": "prev",
      },
      "‹ Previous",
    ),
    h("span", { class: "muted" }, `page ${view.page + 1}`),
    h(
      "button",
      {
        class: "secondary",
        disabled: r.nextCursor === null,
        onclick: () => turn(1),
        "data-testid": "next",
      },
      "Next ›",
    ),
  );
  el.replaceChildren(
    r.tasks.length === 0 ? h("p", { class: "muted" }, "No task matches.") : table,
    pager,
  );
}

function turn(d) {
  if (d > 0) {
    if (view.nextCursor === null) return;
    view.cursors[view.page + 1] = view.nextCursor;
  }
  view.page = Math.max(0, view.page + d);
  void loadTasks();
}

// ---------------------------------------------------------------------------------------------
// One task

async function renderTask(id) {
  let t;
  try {
    t = (await api(`api/tasks/${encodeURIComponent(id)}`)).task;
  } catch (err) {
    main.replaceChildren(h("section", {}, h("h2", {}, `Task ${id}`), h("p", {}, err.message)));
    return;
  }
  if (view.taskId !== id) return;
  const terminal = view.terminal.includes(t.state);
  const retryable = ["failed", "dead", "timed_out"].includes(t.state);
  const facts = [
    ["state", badge(t.state)],
    ["type", t.type],
    ["attempt", `${t.attempt} (failures ${t.failures} of ${t.retry.maxAttempts} allowed)`],
    ["epoch / term", `${t.epoch} / ${t.term}`],
    ["worker", t.workerId ?? "—"],
    ["priority", t.priority],
    [
      "resources",
      `cpu ${t.resources.cpu}, memory ${t.resources.memoryMb} MB, slots ${t.resources.slots}`,
    ],
    [
      "labels",
      Object.entries(t.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ") || "—",
    ],
    ["idempotency key", t.idempotencyKey ?? "—"],
    ["submitter", t.submitter ?? "—"],
    ["timeout", `${t.timeoutMs} ms`],
    ["created", when(t.createdAt)],
    ["run at", when(t.runAt)],
    ["assigned", when(t.assignedAt)],
    ["started", when(t.startedAt)],
    ["finished", when(t.finishedAt)],
    ["refused reports", t.refusedReports],
  ];
  const p = t.placement;
  const placement = h(
    "section",
    { "data-testid": "placement" },
    h("h2", {}, "Placement: why it runs there"),
    p === null
      ? h("p", { class: "muted" }, "Not placed yet.")
      : [
          h(
            "p",
            {},
            `Strategy ${p.strategy} at ${when(p.at)}: `,
            p.workerId !== null
              ? h("strong", { "data-testid": "placed-on" }, p.workerId)
              : h("strong", {}, "no worker fits"),
            ` — ${p.reason}`,
          ),
          h(
            "table",
            { "data-testid": "candidates" },
            h(
              "tr",
              {},
              ["candidate", "fits", "score", "reason"].map((x) => h("th", {}, x)),
            ),
            p.candidates.map((c) =>
              h(
                "tr",
                {
                  "data-testid": "candidate",
                  "data-worker": c.workerId,
                  class: c.workerId === p.workerId ? "chosen" : "",
                },
                h("td", { class: "mono" }, c.workerId),
                h("td", {}, c.fits ? "yes" : "no"),
                h("td", { class: "num" }, score(c.score)),
                h("td", {}, c.reason ?? ""),
              ),
            ),
          ),
        ],
  );
  const timeline = h(
    "table",
    { "data-testid": "timeline" },
    h(
      "tr",
      {},
      ["time", "change", "event", "detail"].map((x) => h("th", {}, x)),
    ),
    h(
      "tr",
      {},
      h("td", {}, when(t.createdAt)),
      h("td", {}, "submitted"),
      h("td", {}, ""),
      h("td", {}, ""),
    ),
    t.history.map((e) =>
      h(
        "tr",
        { "data-testid": "history-entry" },
        h("td", {}, when(e.at)),
        h("td", {}, badge(e.from), " → ", badge(e.to)),
        h("td", { class: "mono" }, e.event),
        h("td", {}, e.reason ?? ""),
      ),
    ),
  );
  main.replaceChildren(
    h(
      "section",
      { "data-testid": "task", "data-id": t.id, "data-state": t.state },
      h(
        "h2",
        {},
        "Task ",
        h("span", { class: "mono" }, t.id),
        " ",
        h("span", { "data-testid": "task-state" }, badge(t.state)),
      ),
      h(
        "p",
        {},
        h(
          "button",
          {
            class: "danger",
            "data-testid": "cancel",
            disabled: terminal,
            onclick: () => act(t.id, "cancel"),
          },
          "Cancel",
        ),
        " ",
        h(
          "button",
          {
            class: "secondary",
            "data-testid": "retry",
            disabled: !retryable,
            onclick: () => act(t.id, "retry"),
          },
          "Retry",
        ),
        " ",
        h("a", { href: "#/" }, "back to the cluster"),
      ),
      h(
        "dl",
        { class: "facts" },
        facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
      ),
    ),
    placement,
    h(
      "section",
      {},
      h("h2", {}, "Outcome"),
      h("h3", {}, "Progress"),
      t.progress === null ? h("p", { class: "muted" }, "none reported") : json(t.progress),
      h("h3", {}, "Result"),
      t.result === null
        ? h("p", { class: "muted" }, "none")
        : h("div", { "data-testid": "result" }, json(t.result)),
      h("h3", {}, "Error"),
      t.error === null
        ? h("p", { class: "muted" }, "none")
        : h(
            "p",
            { "data-testid": "error" },
            h("code", {}, t.error.code),
            ` ${t.error.message}`,
            t.error.retryable ? " (retryable)" : "",
          ),
    ),
    h("section", {}, h("h2", {}, "Timeline"), timeline),
    h("section", {}, h("h2", {}, "Payload"), json(t.payload)),
  );
}

async function act(id, what) {
  try {
    await post(
      `api/tasks/${encodeURIComponent(id)}/${what}`,
      what === "cancel" ? { reason: "cancelled from the dashboard" } : {},
    );
    say(`Task ${id}: ${what} accepted.`);
  } catch (err) {
    say(`${what} refused: ${err.message}`, true);
  }
  await renderTask(id);
}

// ---------------------------------------------------------------------------------------------
// Pages, polling and live updates

async function loadOverview() {
  try {
    view.overview = await api("api/overview");
    if (view.overview.terminal) view.terminal = view.overview.terminal;
  } catch (err) {
    say(`Cannot reach the cluster: ${err.message}`, true);
    return;
  }
  renderHeader();
  if (view.taskId === null) {
    document.getElementById("cluster")?.replaceWith(clusterSection());
    document.querySelector('[data-testid="counts"]')?.replaceWith(countChips());
  }
}

function renderHome() {
  main.replaceChildren(clusterSection(), tasksSection());
  void loadTasks();
}

function route() {
  say("");
  const m = /^#\/tasks\/([A-Za-z0-9_-]{1,128})$/.exec(location.hash);
  view.taskId = m ? m[1] : null;
  if (view.taskId !== null) void renderTask(view.taskId);
  else renderHome();
}

/** Calls `fn` at most once per `ms`, and once more after the last call. */
function throttle(fn, ms) {
  let timer = null;
  let again = false;
  return () => {
    if (timer !== null) {
      again = true;
      return;
    }
    fn();
    timer = setTimeout(() => {
      timer = null;
      if (again) {
        again = false;
        fn();
      }
    }, ms);
  };
}

const refreshTasks = throttle(() => void loadTasks(), 1_000);
const refreshOverview = throttle(() => void loadOverview(), 1_000);

function onEvents({ events, missed }) {
  let listChanged = missed > 0;
  for (const e of events) {
    if (e.kind !== "task") {
      refreshOverview();
      continue;
    }
    if (view.taskId === e.taskId) void renderTask(e.taskId);
    const row = document.querySelector(
      `tr[data-testid="task-row"][data-id="${CSS.escape(e.taskId)}"]`,
    );
    if (row !== null) {
      // An event older than what the row shows (batches can overlap a re-read) changes nothing.
      if (Number(row.dataset.at) > e.at) continue;
      row.dataset.at = e.at;
      row.dataset.state = e.to;
      row.querySelector("td.state").replaceChildren(badge(e.to));
      row.querySelector("td.attempt").textContent = e.attempt;
      row.querySelector("td.worker").textContent = e.workerId ?? "—";
      row.querySelector("td.updated").textContent = when(e.at);
    } else listChanged = true;
  }
  if (view.taskId === null) {
    if (listChanged) refreshTasks();
    if (events.length > 0) refreshOverview();
  }
}

function follow() {
  const live = document.getElementById("live");
  const source = new EventSource("api/events");
  source.onmessage = (m) => {
    live.className = "live on";
    live.textContent = "live";
    onEvents(JSON.parse(m.data));
  };
  source.onerror = () => {
    live.className = "live off";
    live.textContent = "reconnecting…";
  };
}

window.addEventListener("hashchange", route);
// The overview first: the filter lists the states it names.
await loadOverview();
route();
setInterval(() => {
  void loadOverview();
  // Progress changes no state, so sends no event: a task page that may still move is re-read.
  const open = document.querySelector('[data-testid="task"]');
  if (view.taskId !== null && open !== null && !view.terminal.includes(open.dataset.state))
    void renderTask(view.taskId);
}, 3_000);
follow();
