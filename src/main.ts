/**
 * Composition root and CLI entry: config (zod over env and flags) → logger → subcommand.
 * SIGINT/SIGTERM abort the command's signal so long-running roles drain and exit.
 */
import { pino } from "pino";
import { DroverError } from "./protocol/index.ts";
import { loadConfig } from "./cli/config.ts";
import { parseFlags, UsageError } from "./cli/command.ts";
import { commands } from "./cli/commands.ts";

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    "drover — a highly available task scheduler on NATS JetStream",
    "",
    "usage: drover <command> [flags]",
    "",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "global flags: --nats URL[,URL]  --prefix P  --log-level L   (env: DROVER_NATS_URL, DROVER_PREFIX, DROVER_LOG_LEVEL)",
    "credentials, as the nats CLI names them: --user U --password P | --token T | --creds FILE | --nkey SEEDFILE",
    "              --tlsca FILE --tlscert FILE --tlskey FILE   (env: NATS_USER, NATS_PASSWORD, NATS_TOKEN, NATS_CREDS,",
    "              NATS_NKEY, NATS_CA, NATS_CERT, NATS_KEY)",
    "submitter:   --submitter NAME (env: DROVER_SUBMITTER): send API requests as this submitter, on <prefix>.api.as.NAME.>",
    "              (taken from a --creds file made by `drover creds --jwt` when not given)",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    console.log(help());
    return name === undefined ? 2 : 0;
  }
  const command = commands.find((c) => c.name === name);
  if (command === undefined) throw new UsageError(`unknown command '${name}' (see: drover --help)`);
  const { values, positionals } = parseFlags(command, rest);
  if (values.help === true) {
    console.log(`${command.usage}\n\n${command.summary}`);
    return 0;
  }
  let config;
  try {
    config = loadConfig(process.env, values);
  } catch (err) {
    const issue = (err as { issues?: { path: PropertyKey[]; message: string }[] }).issues?.[0];
    throw new UsageError(issue ? `invalid ${issue.path.join(".")}: ${issue.message}` : String(err));
  }
  const log = pino({ level: config.logLevel, base: { pid: process.pid } }, pino.destination(2));
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(130);
    log.info({ sig }, "shutting down");
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return await command.run({ config, log, values, positionals, signal: controller.signal });
}

// Once the command is done, exit even if a handle (a reconnecting NATS connection, a timer)
// would keep the process alive: a failed actor must exit so that its supervisor restarts it.
const exitSoon = (): void => void setTimeout(() => process.exit(), 250).unref();
try {
  process.exitCode = await main(process.argv.slice(2));
  exitSoon();
} catch (err) {
  const code = err instanceof UsageError ? 2 : 1;
  const message =
    err instanceof DroverError
      ? `${err.message}`
      : err instanceof Error
        ? err.message
        : String(err);
  console.error(`drover: ${message}`);
  process.exitCode = code;
  exitSoon();
}
