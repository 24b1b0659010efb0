/**
 * @module cli/commands/demo
 *
 * `zktally demo`: the end-to-end demo that `npm start` runs (see cli/demo.ts).
 */
import { parseArgs } from "node:util";
import type { Command } from "../command.ts";
import { runDemo } from "../demo.ts";

export const demoCommand: Command = {
  name: "demo",
  usage: [
    "demo [--data FILE] [--schema FILE] [--prover native|snarkjs]   end-to-end demo on the embedded sample dataset (npm start)",
  ],
  async run(args) {
    const { values } = parseArgs({
      args,
      options: { data: { type: "string" }, schema: { type: "string" }, prover: { type: "string" } },
      strict: true,
    });
    return (await runDemo({ data: values.data, schema: values.schema, prover: values.prover })) ? 0 : 1;
  },
};
