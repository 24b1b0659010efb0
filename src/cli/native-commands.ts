/**
 * @module cli/native-commands
 *
 * The commands declared with commander's options: `init`, `commit`, `prove`, `partner add|rotate|policy`, `query`
 * and `completion`. Each action imports its implementation when it runs (operator code for all but
 * `completion`), so declaring them costs `zktally verify` nothing. Options commander does not know
 * (the service's `--data-dir`, `--key-file`, ... of `commit`, `prove` and `partner`) are passed through to the
 * service configuration, which checks them.
 */
import type { Command as Commander } from "commander";
import { EXIT_CODES_HELP, inCommand, loaded, type Outcome, strict } from "./program.ts";

const SERVICE_FLAGS_HELP =
  "\nService options (--data-dir DIR, --key-file F, --keys-dir DIR, --circuit ID, ...) are those of `zktally serve` (zktally serve --help).\n";

function withExitCodes(command: Commander, extra = ""): Commander {
  return command.addHelpText("after", `${extra}\n${EXIT_CODES_HELP}\n`);
}

function declareInit(program: Commander, outcome: Outcome): void {
  const command = program
    .command("init")
    .summary("propose a schema from a sample CSV/JSONL file and write a config file")
    .description(
      "Reads a sample CSV (with a header) or JSONL file, proposes a schema (bool, uint with the bits of the largest value, date for YYYY-MM-DD columns, enum of the values found, NFC-normalised; a uint id column as key) and writes a config file for `zktally commit`.",
    )
    .argument("<sample>", "the sample .csv or .jsonl file")
    .option("--id <dataset>", "dataset id (default: from the file name)")
    .option("--key <column>", "the key column (a uint column of distinct values)")
    .option("--max-enum <n>", "most distinct values an enum column may have", "1024")
    .option("--out <file>", "the config file to write", "zktally.config.json")
    .option("--force", "overwrite an existing config file")
    .option("--json", "print the proposal as JSON");
  withExitCodes(strict(command)).action(async (sample: string, options) => {
    const { runInit } = await import("./commands/init.ts");
    outcome.code = await inCommand(command, () => runInit(sample, options));
  });
}

function declareCommit(program: Commander, outcome: Outcome): void {
  const command = program
    .command("commit")
    .summary("commit a dataset file into the operator's data directory (signed manifest)")
    .description(
      "Commits a dataset file as the next epoch of a dataset in the service's data directory: records encrypted at rest, a signed manifest, chunked when the records exceed one circuit instance. The data directory must be initialised (zktally serve admin init), or pass --init.",
    )
    .option("--config <file>", "the config file written by zktally init", "zktally.config.json")
    .option("--data <file>", "the dataset file (default: the config's)")
    .option("--id <dataset>", "dataset id (default: the config's)")
    .option("--schema <file>", "schema JSON file (default: the config's)")
    .option("--epoch <n>", "epoch number (default: the next one)")
    .option("--chunked", "commit in chunks even when the records fit one circuit instance")
    .option("--init", "create the service state (a new operator identity) when the data directory has none")
    .option("--json", "print the committed dataset as JSON")
    .allowUnknownOption()
    .allowExcessArguments();
  withExitCodes(strict(command), SERVICE_FLAGS_HELP).action(async (options, self: Commander) => {
    loaded.operator = true;
    const { runCommit } = await import("./commands/commit.ts");
    outcome.code = await inCommand(command, () => runCommit(options, self.args));
  });
}

function declareProve(program: Commander, outcome: Outcome): void {
  const command = program
    .command("prove")
    .summary("ask your own question of a committed dataset, offline: a proof bundle zktally verify checks")
    .description(
      "The operator's own question, without running the service: reads a dataset zktally commit put in the data directory, checks the query against its schema as the service does, proves it with the pinned keys and writes a bundle for zktally verify. No partner policy applies; the proven minimum group size does (--min-group, default the service's default policy's, printed with the answer).",
    )
    .requiredOption(
      "--query <json|file>",
      'the query, e.g. \'{"predicate":[],"aggregate":{"kind":"count"}}\' (docs/query-language.md)',
    )
    .option("--id <dataset>", "dataset id (default: the config's)")
    .option("--config <file>", "the config file written by zktally init", "zktally.config.json")
    .option("--epoch <n>", "a retained epoch (default: the latest)")
    .option("--nonce <n>", "the nonce bound into the proof, a decimal below r (default: a random one)")
    .option(
      "--min-group <k>",
      "minimum group size proven (default: the service's default policy's; membership is suppressed, as in the service)",
    )
    .option("--out <file>", "where to write the bundle (default: <dataset>-<epoch>.bundle.json)")
    .option("--dev", "use INSECURE development keys, building them when missing (a demo or test only)")
    .option("--json", "print the result as JSON")
    .allowUnknownOption()
    .allowExcessArguments();
  withExitCodes(strict(command), SERVICE_FLAGS_HELP).action(async (options, self: Commander) => {
    loaded.operator = true;
    const { runProve } = await import("./commands/prove.ts");
    outcome.code = await inCommand(command, () => runProve(options, self.args));
  });
}

/** `partner add|rotate|policy`: the admin operations of `serve admin partner ...`, at top level. */
function declarePartner(program: Commander, outcome: Outcome): void {
  const partner = strict(
    program
      .command("partner")
      .summary("partner add | rotate | policy: register partners, rotate secrets, set policies"),
  );
  const admin = (action: string) => async (options: Record<string, unknown>, self: Commander) => {
    loaded.operator = true;
    const { runPartner } = await import("./commands/partner.ts");
    outcome.code = await inCommand(self, () => runPartner(action, options, self.args));
  };
  const add = partner
    .command("add")
    .description("register a partner; prints its client secret once")
    .requiredOption("--id <client>", "the partner's client id")
    .requiredOption("--scopes <list>", "comma-separated scopes, e.g. datasets:read,queries:submit")
    .option("--name <name>", "display name")
    .option("--policy <json|file>", "the partner's policy (JSON inline or a file)");
  const rotate = partner
    .command("rotate")
    .description("rotate a partner's client secret; prints the new one once")
    .requiredOption("--id <client>", "the partner's client id");
  const policy = partner
    .command("policy")
    .description("set a partner's policy (a policy without budget keeps the current budget)")
    .requiredOption("--id <client>", "the partner's client id")
    .requiredOption("--policy <json|file>", "the policy (JSON inline or a file)");
  for (const [name, sub] of [
    ["add", add],
    ["rotate", rotate],
    ["policy", policy],
  ] as const) {
    withExitCodes(strict(sub.allowUnknownOption().allowExcessArguments()), SERVICE_FLAGS_HELP).action(
      admin(name),
    );
  }
}

function declareQuery(program: Commander, outcome: Outcome): void {
  const command = program
    .command("query")
    .summary("ask a question as a partner: submit, follow progress, download and verify the bundle")
    .description(
      "The partner's client: gets a token by client credentials (refreshed when it expires), generates a canonical nonce below r, submits the query, shows the job's progress (chunks done / total, ETA), downloads the proof bundle and verifies it with the keys of GET /v1/circuits and the pinned operator key.",
    )
    .requiredOption("--url <url>", "the service, e.g. https://zktally.example.org")
    .requiredOption("--client-id <id>", "your client id")
    .option("--client-secret <secret>", "your client secret (default: ZKTALLY_CLIENT_SECRET)")
    .requiredOption("--dataset <id>", "the dataset to ask")
    .requiredOption(
      "--query <json|file>",
      'the query, e.g. \'{"predicate":[],"aggregate":{"kind":"count"}}\'; a JSON array of queries is one pass (histograms, several queries in one proof)',
    )
    .requiredOption(
      "--operator-key <hex>",
      "the operator's Ed25519 public key you pinned (the root of trust)",
    )
    .option("--epoch <n>", "an older, still retained epoch (default: the latest)")
    .option("--out <file>", "where to save the bundle (default: <jobId>.bundle.json)")
    .option("--allow-insecure-keys", "accept development keys (a demo or test setup only)")
    .option("--json", "print the verification result as JSON")
    .option("--poll-ms <ms>", "how often the job is polled", "250")
    .option("--timeout <s>", "give up waiting for the job after this long", "600");
  withExitCodes(strict(command)).action(async (options) => {
    const { runQuery } = await import("./query-command.ts");
    outcome.code = await inCommand(command, () => runQuery(options));
  });
}

function declareCompletion(program: Commander, outcome: Outcome): void {
  const command = program
    .command("completion")
    .summary("print a bash or zsh completion script")
    .description(
      'Prints a completion script: eval "$(zktally completion bash)" in ~/.bashrc, or zktally completion zsh > ~/.zfunc/_zktally (a folder on fpath).',
    )
    .argument("<shell>", "bash or zsh");
  withExitCodes(strict(command)).action(async (shell: string) => {
    const { runCompletion } = await import("./completion.ts");
    outcome.code = await inCommand(command, () => runCompletion(program, shell));
  });
}

/** Adds every commander-declared command to the program. */
export function installNativeCommands(program: Commander, outcome: Outcome): void {
  declareInit(program, outcome);
  declareCommit(program, outcome);
  declareProve(program, outcome);
  declarePartner(program, outcome);
  declareQuery(program, outcome);
  declareCompletion(program, outcome);
}
