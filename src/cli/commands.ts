/** Every `drover` subcommand, in the order `drover --help` lists them. */
import { autoscaleCommand } from "./autoscale.ts";
import { benchCommand } from "./bench.ts";
import { benchDemandCommand } from "./bench-demand.ts";
import { benchMachinesCommand } from "./bench-machines.ts";
import { benchPlacementCommand } from "./bench-placement.ts";
import { benchSchedulesCommand } from "./bench-schedules.ts";
import type { Command } from "./command.ts";
import { credsCommand } from "./creds.ts";
import { initCommand } from "./init.ts";
import { healthCommand } from "./health.ts";
import { poolCommand, poolsCommand } from "./pools.ts";
import { schedulerCommand, workerCommand } from "./roles.ts";
import { scheduleCommand } from "./schedules.ts";
import { schemaCommand } from "./schema.ts";
import { submitManyCommand } from "./submit-many.ts";
import {
  cancelCommand,
  drainCommand,
  getCommand,
  lsCommand,
  retryCommand,
  submitCommand,
  workersCommand,
} from "./tasks.ts";
import { upCommand } from "./up.ts";
import { watchCommand } from "./watch.ts";

export const commands: Command[] = [
  upCommand,
  schedulerCommand,
  workerCommand,
  submitCommand,
  submitManyCommand,
  getCommand,
  cancelCommand,
  retryCommand,
  lsCommand,
  watchCommand,
  workersCommand,
  drainCommand,
  poolsCommand,
  poolCommand,
  scheduleCommand,
  autoscaleCommand,
  benchCommand,
  benchDemandCommand,
  benchMachinesCommand,
  benchPlacementCommand,
  benchSchedulesCommand,
  healthCommand,
  initCommand,
  credsCommand,
  schemaCommand,
];
