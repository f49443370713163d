/**
 * The small framework every subcommand uses: flag parsing with clear errors, one-line
 * failures and exit codes.
 */
import { parseArgs } from "node:util";
import type { ParseArgsConfig } from "node:util";
import type { Logger } from "pino";
import { DroverError, ErrorCode } from "../protocol/index.ts";
import type { GlobalConfig } from "./config.ts";

/** Flags every subcommand accepts. */
export const globalFlags = {
  nats: { type: "string" },
  prefix: { type: "string" },
  // Credentials and TLS, named as the nats CLI names them.
  user: { type: "string" },
  password: { type: "string" },
  token: { type: "string" },
  creds: { type: "string" },
  nkey: { type: "string" },
  tlscert: { type: "string" },
  tlskey: { type: "string" },
  tlsca: { type: "string" },
  submitter: { type: "string" },
  "log-level": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

export interface CommandContext {
  config: GlobalConfig;
  log: Logger;
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
  /** Aborted on SIGINT/SIGTERM: long-running commands drain and return. */
  signal: AbortSignal;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  /** Returns the process exit code. */
  run(ctx: CommandContext): Promise<number>;
}

/** A usage error: printed as one line, exit code 2. */
export class UsageError extends DroverError {
  constructor(message: string) {
    super(ErrorCode.ValidationFailed, message);
    this.name = "UsageError";
  }
}

export function parseFlags(command: Command, argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: { ...globalFlags, ...command.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(
      `${(err as Error).message.split("\n")[0]} (see: drover ${command.name} --help)`,
    );
  }
}
