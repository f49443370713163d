#!/usr/bin/env node
// The `drover` command. Installed from the npm package it runs the compiled dist/main.js. In a
// checkout it runs the TypeScript sources with Node's type stripping, which needs Node >= 22.12
// (flagged before 22.18); on an older Node this launcher re-executes itself with the Node that
// scripts/provision.sh installed into .tools/bin.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "src", "main.ts");
const compiled = join(root, "dist", "main.js");
const packaged = !existsSync(source) && existsSync(compiled);
const main = packaged ? compiled : source;
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
const modern = major > 22 || (major === 22 && minor >= 18);
const usable = major > 22 || (major === 22 && minor >= 12);

if (packaged || modern) {
  await import(main);
} else {
  const provisioned = join(root, ".tools", "bin", "node");
  const node = usable ? process.execPath : existsSync(provisioned) ? provisioned : null;
  if (node === null) {
    console.error(
      `drover: Node ${process.versions.node} is too old (need >= 22.12); run scripts/provision.sh node`,
    );
    process.exit(1);
  }
  const child = spawn(
    node,
    ["--experimental-strip-types", "--no-warnings", main, ...process.argv.slice(2)],
    {
      stdio: "inherit",
    },
  );
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
