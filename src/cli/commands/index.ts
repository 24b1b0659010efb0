/**
 * @module cli/commands
 *
 * Every CLI command, in the order `zktally help` lists them. Add a command by adding its module here.
 */
import type { Command } from "../command.ts";
import { demoCommand } from "./demo.ts";

export const COMMANDS: readonly Command[] = [demoCommand];
