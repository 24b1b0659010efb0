/**
 * @module cli/main
 *
 * The `zktally` command line. Commands: `demo` (what `npm start` runs), `setup` (build the default circuits'
 * development keys). Exit codes: 0 success, 1 a check failed, 2 bad usage or input.
 */
import { parseArgs } from "node:util";
import { terminateCurveWorkers } from "../setup/ptau.ts";
import { runDemo } from "./demo.ts";

const USAGE = `usage: zktally <command> [options]

commands:
  demo [--data FILE] [--schema FILE]   end-to-end demo on the embedded sample dataset (npm start)
  help                                 this text
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "demo": {
      const { values } = parseArgs({
        args: rest,
        options: { data: { type: "string" }, schema: { type: "string" } },
        strict: true,
      });
      return (await runDemo({ data: values.data, schema: values.schema })) ? 0 : 1;
    }
    case undefined:
    case "help":
    case "--help":
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`zktally: unknown command ${JSON.stringify(command)}\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2))
  .then(async (code) => {
    await terminateCurveWorkers();
    process.exitCode = code;
  })
  .catch(async (error: unknown) => {
    await terminateCurveWorkers();
    process.stderr.write(
      `zktally: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`,
    );
    process.exitCode = 2;
  });
