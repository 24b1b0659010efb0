/**
 * @module cli/commands
 *
 * Every CLI command, in the order `zktally help` lists them. Add a command by adding its module here.
 */
import type { Command } from "../command.ts";
import { inspectCommand, verifyCommand } from "../verify-command.ts";
import { auditCommand } from "./audit.ts";
import { ceremonyCommand } from "./ceremony.ts";
import { demoCommand } from "./demo.ts";
import { eraseCommand } from "./erase.ts";
import { exportCommand } from "./export.ts";
import { serveCommand } from "./serve.ts";
import { setupCommand } from "./setup.ts";
import { workerCommand } from "./worker.ts";

export const COMMANDS: readonly Command[] = [
  demoCommand,
  verifyCommand,
  inspectCommand,
  setupCommand,
  ceremonyCommand,
  exportCommand,
  auditCommand,
  serveCommand,
  eraseCommand,
  workerCommand,
];
