/**
 * `drover creds`: NATS users for Drover's roles (see nats-roles.ts), as NKeys: an
 * `auth.conf` for the server (public keys and permissions) and one seed file per user for the
 * processes (`--nkey FILE`). Seeds already in the folder are kept, so running it again with
 * more workers adds users without changing anyone's key.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { WorkerId } from "../protocol/index.ts";
import type { RoleUser } from "../runtime/index.ts";
import { authorizationBlock, userSeedFile } from "../runtime/index.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";
import { intFlag } from "./flags.ts";

/** The worker ids of `--workers a,b` and `--worker-count N` (`worker-1` … `worker-N`). */
export function workerIds(list: string | undefined, count: number): string[] {
  const ids = (list ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (let i = 1; i <= count; i++) ids.push(`worker-${i}`);
  for (const id of ids) {
    const ok = WorkerId.safeParse(id);
    if (!ok.success) throw new UsageError(`worker id '${id}': ${ok.error.issues[0]?.message}`);
  }
  if (new Set(ids).size !== ids.length) throw new UsageError("worker ids must be distinct");
  return ids;
}

export const credsCommand: Command = {
  name: "creds",
  summary: "make NATS users for each role (admin, scheduler, submitter, observer, one per worker)",
  usage:
    "drover creds [--out DIR] [--workers ID,ID...] [--worker-count N] [--prefix P]   (writes DIR/auth.conf and DIR/<user>.nk)",
  options: {
    out: { type: "string" },
    workers: { type: "string" },
    "worker-count": { type: "string" },
  },
  async run({ config, values }) {
    const out = resolve((values.out as string | undefined) ?? "drover-creds");
    const ids = workerIds(values.workers as string | undefined, intFlag(values, "worker-count", 0));
    mkdirSync(out, { recursive: true, mode: 0o700 });
    const wanted: Omit<RoleUser, "nkey">[] = [
      { name: "admin", role: "admin" },
      { name: "scheduler", role: "scheduler" },
      { name: "submitter", role: "submitter" },
      { name: "observer", role: "observer" },
      ...ids.map((id) => ({ name: `worker.${id}`, role: "worker" as const, workerId: id })),
    ];
    const users: RoleUser[] = [];
    let created = 0;
    for (const u of wanted) {
      const seed = userSeedFile(join(out, `${u.name}.nk`));
      if (seed.created) created++;
      users.push({ ...u, nkey: seed.publicKey });
    }
    const conf = join(out, "auth.conf");
    writeFileSync(conf, authorizationBlock(config.prefix, users));
    console.log(
      `wrote ${conf} (${users.length} users, ${created} new keys) and a seed file per user in ${out}:`,
    );
    for (const u of users) {
      const how =
        u.role === "worker"
          ? `drover worker --id ${u.workerId} --nkey ${join(out, `${u.name}.nk`)}`
          : u.role === "scheduler"
            ? `drover scheduler --nkey ${join(out, "scheduler.nk")}`
            : `--nkey ${join(out, `${u.name}.nk`)}`;
      console.log(`  ${u.name.padEnd(24)} ${u.role.padEnd(10)} ${how}`);
    }
    console.log(
      'include auth.conf from the server\'s configuration (`include "auth.conf"`, read ' +
        "relative to the including file's folder) and reload the server, then run " +
        `'drover init --nkey ${join(out, "admin.nk")}' once to create the streams and buckets`,
    );
    return 0;
  },
};
