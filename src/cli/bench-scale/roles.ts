/**
 * The scale benchmark's processes: S scheduler replicas (the first serves the dashboard the
 * listing phase times) and W workers, each a child process of this one whose stderr tail is
 * kept for the report. A role that exits while the bench has not stopped it fails the run.
 * Each role is added to `into` as soon as it is spawned, so the caller stops whatever started
 * even if a later spawn throws.
 */
import { spawn } from "node:child_process";
import { DroverError, ErrorCode } from "../../protocol/index.ts";
import { mainScript } from "../local.ts";
import type { Role } from "./support.ts";
import { lastLines } from "./support.ts";

export function startRoles(o: {
  schedulers: number;
  workers: number;
  strategy: string;
  /** Slots of each worker. */
  concurrency: number;
  dashboardPort: number;
  env: NodeJS.ProcessEnv;
  /** Whether the bench is stopping the roles itself (an exit is then no failure). */
  stopping: () => boolean;
  roleFailed: (err: Error) => void;
  into: Role[];
}): void {
  const specs: [string, Role["kind"], string[]][] = [
    ...Array.from({ length: o.schedulers }, (_, i): [string, Role["kind"], string[]] => [
      `scheduler-${i + 1}`,
      "scheduler",
      [
        "scheduler",
        "--id",
        `scheduler-${i + 1}`,
        "--strategy",
        o.strategy,
        // The first serves its dashboard (timed in the listing phase); the others nothing.
        "--metrics-port",
        i === 0 ? String(o.dashboardPort) : "off",
      ],
    ]),
    ...Array.from({ length: o.workers }, (_, i): [string, Role["kind"], string[]] => [
      `worker-${i + 1}`,
      "worker",
      [
        "worker",
        "--id",
        `worker-${i + 1}`,
        "--slots",
        String(o.concurrency),
        "--cpu",
        "1000",
        "--memory-mb",
        "1000000",
      ],
    ]),
  ];
  for (const [name, kind, args] of specs) {
    const proc = spawn(process.execPath, [...process.execArgv, mainScript, ...args], {
      env: o.env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    const role: Role = { name, kind, proc, tail: "", killed: false, peakRssBytes: 0 };
    o.into.push(role);
    proc.stderr?.on("data", (d: Buffer) => (role.tail = (role.tail + d.toString()).slice(-4_000)));
    const onGone = (why: string): void => {
      if (!o.stopping() && !role.killed)
        o.roleFailed(
          new DroverError(
            ErrorCode.Unavailable,
            `scale bench: ${name} ${why}${lastLines(role.tail) ? `: ${lastLines(role.tail)}` : ""}`,
          ),
        );
    };
    proc.once("error", (err) => onGone(`could not start (${err.message})`));
    proc.once("exit", (code, sig) => onGone(`exited (${sig ?? code})`));
  }
}
