/**
 * `drover creds`: NATS users for Drover's roles (see nats-roles.ts).
 *
 * - By default as NKeys: an `auth.conf` for the server (public keys and permissions) and one
 *   seed file per user for the processes (`--nkey FILE`). Workers are the ids given.
 * - With `--jwt`, NATS's operator mode (see nats-jwt.ts): a `server.conf` for the server, a
 *   `.creds` file per role, and a worker signer that mints a worker's `.creds` at any time
 *   (`--signer FILE --workers ID`), with no change to the server: for workers started on the
 *   fly.
 *
 * Submitters are named (`--submitters alice,bob`; always one named `submitter`): each may send
 * only on its own API subjects, so its tasks are its own and its limits its own.
 *
 * Keys already in the folder are kept, so running it again adds users without changing
 * anyone's key.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import { WorkerId } from "../protocol/index.ts";
import type { OperatorSeeds, RoleUser, WorkerSigner } from "../runtime/index.ts";
import {
  authorizationBlock,
  DEFAULT_SUBMITTER,
  newOperatorSeeds,
  operatorServerConfig,
  roleCreds,
  userSeedFile,
  workerCreds,
  workerSigner,
} from "../runtime/index.ts";
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

const SubmitterName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,128}$/, "letters, digits, _ and - (max 128)");

/** The submitter names of `--submitters a,b`, after the default one (`submitter`). */
export function submitterNames(list: string | undefined): string[] {
  const names = [DEFAULT_SUBMITTER];
  for (const raw of (list ?? "").split(",")) {
    const name = raw.trim();
    if (name.length === 0) continue;
    const ok = SubmitterName.safeParse(name);
    if (!ok.success) throw new UsageError(`submitter '${name}': ${ok.error.issues[0]?.message}`);
    if (names.includes(name)) throw new UsageError(`submitter names must be distinct: '${name}'`);
    names.push(name);
  }
  return names;
}

/** The file (without extension) of a submitter's user: `submitter`, `submitter.<name>`. */
const submitterFile = (name: string): string =>
  name === DEFAULT_SUBMITTER ? DEFAULT_SUBMITTER : `${DEFAULT_SUBMITTER}.${name}`;

const Seed = z.string().regex(/^S[A-Z2-7]{57}$/, "must be an NKey seed (S…)");
const OperatorSeedsFile = z.strictObject({
  operator: Seed,
  system: Seed,
  account: Seed,
  workerSigner: Seed,
});
export const WorkerSignerFile = z.strictObject({
  account: z.string().regex(/^A[A-Z2-7]{55}$/, "must be an account public key (A…)"),
  seed: Seed,
});

/** Reads a JSON secrets file with `schema`, naming the file in any error. */
export function readJson<S extends z.ZodType>(file: string, schema: S): z.output<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const r = schema.safeParse(raw);
  if (!r.success)
    throw new UsageError(
      `${file}: ${r.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`,
    );
  return r.data;
}

/** Writes a secret (owner-only). */
function writeSecret(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
}

/** `--jwt --signer FILE`: worker users only, from a worker signer. */
function mintWorkers(out: string, signer: WorkerSigner, ids: readonly string[]): void {
  for (const id of ids) {
    const file = join(out, `worker.${id}.creds`);
    writeSecret(file, workerCreds(signer, id));
    console.log(`  worker.${id}`.padEnd(26) + `drover worker --id ${id} --creds ${file}`);
  }
}

/** `--jwt`: the operator's keys (kept), the server's configuration, every role's creds. */
function jwtMode(
  out: string,
  prefix: string,
  ids: readonly string[],
  submitters: readonly string[],
): void {
  const keysFile = join(out, "operator-keys.json");
  let seeds: OperatorSeeds;
  if (existsSync(keysFile)) seeds = readJson(keysFile, OperatorSeedsFile);
  else {
    seeds = newOperatorSeeds();
    writeSecret(keysFile, `${JSON.stringify(seeds, null, 2)}\n`);
  }
  const conf = join(out, "server.conf");
  writeFileSync(conf, operatorServerConfig(seeds, prefix));
  const signerFile = join(out, "worker-signer.json");
  const signer = workerSigner(seeds);
  writeSecret(signerFile, `${JSON.stringify(signer, null, 2)}\n`);
  console.log(`wrote ${conf} (JWT mode) and, owner-only, ${keysFile} and ${signerFile}:`);
  for (const role of ["admin", "scheduler", "observer"] as const) {
    const file = join(out, `${role}.creds`);
    writeSecret(file, roleCreds(seeds, role, prefix));
    console.log(`  ${role}`.padEnd(26) + `--creds ${file}`);
  }
  for (const name of submitters) {
    const file = join(out, `${submitterFile(name)}.creds`);
    writeSecret(file, roleCreds(seeds, "submitter", prefix, name));
    console.log(`  ${submitterFile(name)}`.padEnd(26) + `--creds ${file}   (sends as '${name}')`);
  }
  mintWorkers(out, signer, ids);
  console.log(
    `include server.conf from the server's configuration; mint a worker's creds later with ` +
      `'drover creds --jwt --signer ${signerFile} --workers ID --out DIR' (no server change)`,
  );
}

export const credsCommand: Command = {
  name: "creds",
  summary: "make NATS users for each role (admin, scheduler, submitter, observer, one per worker)",
  usage:
    "drover creds [--out DIR] [--workers ID,ID...] [--worker-count N] [--submitters NAME,NAME...] [--jwt [--signer FILE]] [--prefix P]   (NKeys: DIR/auth.conf and DIR/<user>.nk; --jwt: DIR/server.conf and DIR/<user>.creds)",
  options: {
    out: { type: "string" },
    submitters: { type: "string" },
    workers: { type: "string" },
    "worker-count": { type: "string" },
    jwt: { type: "boolean" },
    signer: { type: "string" },
  },
  async run({ config, values }) {
    const out = resolve((values.out as string | undefined) ?? "drover-creds");
    const ids = workerIds(values.workers as string | undefined, intFlag(values, "worker-count", 0));
    const submitters = submitterNames(values.submitters as string | undefined);
    const signerFile = values.signer as string | undefined;
    if (signerFile !== undefined && values.jwt !== true)
      throw new UsageError("--signer mints JWT users: give --jwt too");
    mkdirSync(out, { recursive: true, mode: 0o700 });
    if (signerFile !== undefined) {
      if (ids.length === 0) throw new UsageError("--signer needs --workers or --worker-count");
      mintWorkers(out, readJson(resolve(signerFile), WorkerSignerFile), ids);
      return 0;
    }
    if (values.jwt === true) {
      jwtMode(out, config.prefix, ids, submitters);
      return 0;
    }
    const wanted: Omit<RoleUser, "nkey">[] = [
      { name: "admin", role: "admin" },
      { name: "scheduler", role: "scheduler" },
      ...submitters.map((submitter) => ({
        name: submitterFile(submitter),
        role: "submitter" as const,
        submitter,
      })),
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
            : u.role === "submitter"
              ? `--nkey ${join(out, `${u.name}.nk`)} --submitter ${u.submitter}`
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
