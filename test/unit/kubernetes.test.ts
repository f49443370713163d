/**
 * deploy/kubernetes/ cannot be applied on these machines (no cluster), so every manifest is
 * parsed and checked against what the code really uses: the image and its version, each
 * container's command and flags (parsed by the command's own flag parser), the environment
 * names the code reads, the metrics port, the probe paths (served by a real MetricsServer), the
 * drain grace against the termination grace period, the PDB selectors, and the KEDA trigger's
 * metric (registered by the replica's metrics) and bounds (the pool policy's).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { parseFlags } from "../../src/cli/command.ts";
import { root } from "../../src/cli/local.ts";
import { DEFAULT_METRICS_PORT } from "../../src/cli/metrics.ts";
import { poolRequest } from "../../src/cli/pools.ts";
import { MetricsServer, ReplicaMetrics } from "../../src/runtime/index.ts";
import { commands } from "../../src/cli/commands.ts";

const dir = join(root, "deploy", "kubernetes");
const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are untyped YAML */
type Doc = Record<string, any>;
const docs: (Doc & { file: string })[] = files.flatMap((file) =>
  parseAllDocuments(readFileSync(join(dir, file), "utf8")).map((d) => {
    expect(d.errors, file).toEqual([]);
    return { ...(d.toJS() as Doc), file };
  }),
);
const byKind = (kind: string): (Doc & { file: string })[] => docs.filter((d) => d.kind === kind);
const named = (kind: string, name: string): Doc => {
  const d = byKind(kind).find((x) => x.metadata.name === name);
  expect(d, `${kind} ${name}`).toBeDefined();
  return d!;
};
const podSpec = (d: Doc): Doc => d.spec.template.spec as Doc;
const droverContainers = (): { doc: Doc; c: Doc }[] =>
  docs.flatMap((doc) =>
    doc.spec?.template?.spec?.containers === undefined
      ? []
      : [...((podSpec(doc).initContainers ?? []) as Doc[]), ...(podSpec(doc).containers as Doc[])]
          .filter((c) => String(c.image).startsWith("drover/drover:"))
          .map((c) => ({ doc, c })),
  );
const version = (
  JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }
).version;
const source = readdirSync(join(root, "src"), { recursive: true })
  .filter((f) => String(f).endsWith(".ts"))
  .map((f) => readFileSync(join(root, "src", String(f)), "utf8"))
  .join("\n");

const server = new MetricsServer({
  registry: new Registry(),
  healthy: () => ({ ok: true }),
  ready: () => ({ ok: true }),
});
const serverUrl = server.listen(0).then((u) => u.replace(/\/metrics$/, ""));
afterAll(() => server.close());

describe("deploy/kubernetes", () => {
  it("parses, and the kustomization lists every manifest", () => {
    for (const d of docs) {
      expect(d.apiVersion, d.file).toBeTypeOf("string");
      expect(d.kind, d.file).toBeTypeOf("string");
    }
    const k = byKind("Kustomization")[0]!;
    expect([...(k.resources as string[])].sort()).toEqual(
      files.filter((f) => f !== "kustomization.yaml").sort(),
    );
  });

  it("runs the drover image of this version with commands and flags the CLI accepts", () => {
    const found = droverContainers();
    expect(found.length).toBeGreaterThanOrEqual(3);
    for (const { doc, c } of found) {
      expect(c.image, doc.file as string).toBe(`drover/drover:${version}`);
      const [name, ...args] = c.args as string[];
      const command = commands.find((x) => x.name === name);
      expect(command, `${doc.file}: command ${name}`).toBeDefined();
      const parsed = parseFlags(command!, args);
      if (name === "pool") {
        expect(parsed.positionals[0]).toBe("set");
        // The command's own validation of the template and policy.
        poolRequest(parsed.positionals[1]!, parsed.values);
      }
    }
  });

  it("uses only environment names the code reads, and NATS URLs of the NATS StatefulSet", () => {
    const nats = named("StatefulSet", "nats");
    const hosts = Array.from(
      { length: nats.spec.replicas as number },
      (_, i) => `tls://nats-${i}.${nats.spec.serviceName}:4222`,
    );
    expect(named("Service", nats.spec.serviceName as string).spec.clusterIP).toBe("None");
    for (const { doc, c } of droverContainers()) {
      for (const e of (c.env ?? []) as { name: string; value?: string }[]) {
        expect(source, `${doc.file}: ${e.name}`).toContain(e.name);
        if (e.name === "DROVER_NATS_URL") expect(e.value!.split(",")).toEqual(hosts);
      }
    }
    const versions = readFileSync(join(root, "scripts", "versions.env"), "utf8");
    const natsVersion = /NATS_SERVER_VERSION=(\S+)/.exec(versions)![1]!;
    expect(podSpec(nats).containers[0].image).toBe(`nats:${natsVersion}-alpine`);
  });

  it("is secured: NATS requires TLS and includes the roles; each process connects as its role; a worker pod mints its own user", () => {
    const conf = named("ConfigMap", "nats-config").data["nats.conf"] as string;
    expect(conf).toMatch(/^tls \{/m);
    expect(conf).toMatch(/cluster \{[\s\S]*tls \{[\s\S]*verify: true/);
    expect(conf).toContain('include "auth/server.conf"');
    const generated = new Map(
      (byKind("Kustomization")[0]!.secretGenerator as { name: string; files: string[] }[]).map(
        (g) => [g.name, g.files.map((f) => f.split("=")[0]!)],
      ),
    );
    /** The Secret key a path in a pod resolves to, through the pod's volumes. */
    const secretKey = (pod: Doc, c: Doc, path: string): [string, string] | undefined => {
      for (const m of (c.volumeMounts ?? []) as { name: string; mountPath: string }[]) {
        if (!path.startsWith(`${m.mountPath}/`)) continue;
        const v = (pod.volumes as Doc[]).find((x) => x.name === m.name)!;
        if (v.secret === undefined) return undefined;
        return [v.secret.secretName as string, path.slice(m.mountPath.length + 1)];
      }
      return undefined;
    };
    for (const { doc, c } of droverContainers()) {
      if (c.name === "creds") continue;
      const env = Object.fromEntries(
        ((c.env ?? []) as { name: string; value?: string }[]).map((e) => [e.name, e.value]),
      );
      const what = `${doc.file as string} ${c.name as string}`;
      expect(env.NATS_CREDS, what).toBeDefined();
      const ca = secretKey(podSpec(doc), c, env.NATS_CA!);
      expect(ca, what).toEqual(["drover-nats-tls", "ca.pem"]);
      expect(generated.get(ca![0])).toContain(ca![1]);
      if (doc.metadata.name === "drover-worker") continue;
      const creds = secretKey(podSpec(doc), c, env.NATS_CREDS!);
      expect(generated.get(creds![0]), what).toContain(creds![1]);
    }
    // A worker: its user is minted by the init container, the only one that mounts the signer.
    const pod = podSpec(named("Deployment", "drover-worker"));
    expect(pod.automountServiceAccountToken).toBe(false);
    const init = (pod.initContainers as Doc[])[0]!;
    const [name, ...args] = init.args as string[];
    const flags = parseFlags(
      commands.find((x) => x.name === name)!,
      args,
    ).values as Record<string, unknown>;
    expect(flags).toMatchObject({ jwt: true, workers: "$(DROVER_WORKER_ID)" });
    const signer = secretKey(pod, init, flags.signer as string);
    expect(generated.get(signer![0])).toContain(signer![1]);
    const worker = pod.containers[0] as Doc;
    const mounts = (c: Doc): string[] => (c.volumeMounts as { name: string }[]).map((m) => m.name);
    expect(mounts(worker)).not.toContain("signer");
    const env = Object.fromEntries(
      (worker.env as { name: string; value?: string }[]).map((e) => [e.name, e.value]),
    );
    // Where `drover creds --signer … --out DIR` writes the worker's user.
    expect(env.NATS_CREDS).toBe(`${flags.out as string}/worker.$(DROVER_WORKER_ID).creds`);
    expect(mounts(worker)).toContain("creds");
  });

  it("probes /healthz and /readyz on the metrics port the roles serve", async () => {
    const base = await serverUrl;
    for (const name of ["drover-scheduler", "drover-worker"]) {
      const d = named("Deployment", name);
      const c = podSpec(d).containers[0] as Doc;
      const port = (c.ports as { name: string; containerPort: number }[]).find(
        (p) => p.name === "metrics",
      );
      expect(port?.containerPort, name).toBe(DEFAULT_METRICS_PORT);
      const env = Object.fromEntries(
        (c.env as { name: string; value?: string }[]).map((e) => [e.name, e.value]),
      );
      expect(env.DROVER_METRICS_PORT, name).toBe(String(DEFAULT_METRICS_PORT));
      expect(env.DROVER_METRICS_HOST, name).toBe("0.0.0.0");
      expect(d.spec.template.metadata.annotations["prometheus.io/port"]).toBe(
        String(DEFAULT_METRICS_PORT),
      );
      for (const probe of [c.livenessProbe, c.readinessProbe] as Doc[]) {
        expect(probe.httpGet.port, name).toBe("metrics");
        const res = await fetch(`${base}${probe.httpGet.path as string}`);
        expect(res.status, `${name} ${probe.httpGet.path as string}`).toBe(200);
      }
    }
  });

  it("gives a worker longer to stop than its drain grace, and PDBs select real pods", () => {
    const w = named("Deployment", "drover-worker");
    const args = podSpec(w).containers[0].args as string[];
    const grace = Number(args[args.indexOf("--drain-grace-ms") + 1]);
    expect(grace).toBeGreaterThan(0);
    expect(podSpec(w).terminationGracePeriodSeconds * 1_000).toBeGreaterThanOrEqual(grace + 10_000);
    const workloads = [...byKind("Deployment"), ...byKind("StatefulSet")];
    for (const pdb of byKind("PodDisruptionBudget")) {
      const sel = pdb.spec.selector.matchLabels as Record<string, string>;
      const match = workloads.filter((x) =>
        Object.entries(sel).every(([k, v]) => x.spec.template.metadata.labels[k] === v),
      );
      expect(match, pdb.metadata.name as string).toHaveLength(1);
    }
  });

  it("scales the worker Deployment by the leader's desired count for its pool, within the policy's bounds", () => {
    const so = byKind("ScaledObject")[0]!;
    expect(so.spec.scaleTargetRef.name).toBe("drover-worker");
    const trigger = so.spec.triggers[0] as Doc;
    expect(trigger.type).toBe("prometheus");
    expect(trigger.metricType).toBe("AverageValue");
    expect(trigger.metadata.threshold).toBe("1");
    const m = /^max\((\w+)\{pool="([^"]+)"\}\)$/.exec(trigger.metadata.query as string);
    expect(m).not.toBeNull();
    const metrics = new ReplicaMetrics({
      replicaId: "r",
      leading: () => true,
      term: () => 1,
      mirror: () => null,
      scheduler: () => null,
      autoscaler: () => null,
    });
    expect(metrics.registry.getSingleMetric(m![1]!), m![1]).toBeDefined();
    const workerArgs = podSpec(named("Deployment", "drover-worker")).containers[0].args as string[];
    expect(workerArgs[workerArgs.indexOf("--pool") + 1]).toBe(m![2]);
    const job = podSpec(named("Job", "drover-pool-elastic")).containers[0].args as string[];
    expect(job.slice(0, 3)).toEqual(["pool", "set", m![2]]);
    const flag = (f: string): number => Number(job[job.indexOf(f) + 1]);
    expect(so.spec.minReplicaCount).toBe(flag("--min"));
    expect(so.spec.maxReplicaCount).toBe(flag("--max"));
    // The template the policy registers is what the Deployment's workers offer.
    for (const f of ["--cpu", "--memory-mb", "--slots"])
      expect(workerArgs[workerArgs.indexOf(f) + 1], f).toBe(String(flag(f)));
  });
});
