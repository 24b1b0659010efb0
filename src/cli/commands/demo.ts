/**
 * @module cli/commands/demo
 *
 * `zktally demo`: the end-to-end demo that `npm start` runs (see cli/demo.ts), on the embedded sample only:
 * `--data`/`--schema` are refused with a pointer to init, commit and query (the demo's queries name the
 * sample's fields, and it signs as the sample's dataset id and epoch).
 */
import { parseArgs } from "node:util";
import { type Command, UsageError } from "../command.ts";
import { runDemo } from "../demo.ts";

export const demoCommand: Command = {
  name: "demo",
  usage: ["demo [--prover native|snarkjs]   end-to-end demo on the embedded sample dataset (npm start)"],
  async run(args) {
    const { values } = parseArgs({
      args,
      options: { data: { type: "string" }, schema: { type: "string" }, prover: { type: "string" } },
      strict: true,
    });
    if (values.data !== undefined || values.schema !== undefined) {
      // The demo's queries are about the sample's fields, and it signs as the sample's dataset and epoch 1.
      throw new UsageError(
        "demo runs on the embedded sample only; for your own data: zktally init FILE, zktally commit, then zktally query (README, Command line)",
      );
    }
    return (await runDemo({ prover: values.prover })) ? 0 : 1;
  },
};
