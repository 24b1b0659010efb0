/**
 * @module cli/commands/export
 *
 * `zktally export solidity --circuit ID [--keys DIR] [--out FILE]`: the snarkjs Solidity verifier for a
 * pinned verification key. `zktally export calldata FILE [--format snarkjs|words|abi]`: `verifyProof`
 * calldata for a proof bundle (`zktally-bundle/v1`) or a bare `{publicSignals, proof}` JSON (see
 * setup/export.ts). Malformed input exits 2 with the offending field named; a key that is not pinned (or not
 * what its pin says) exits 3, as `zktally verify` does for a malformed key (the table of `zktally --help`).
 */
import { readFile, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { KEYS_DIR } from "../../config/defaults.ts";
import {
  abiEncodeVerifyProof,
  calldataFromJson,
  pinnedSolidityVerifier,
  proofWords,
  snarkjsCalldataString,
} from "../../setup/export.ts";
import { PinMismatchError } from "../../setup/keys-manifest.ts";
import { parseStrictJson } from "../../util/strict-json.ts";
import { VerifierInputError } from "../../verifier/errors.ts";
import { type Command, errorReport, UsageError } from "../command.ts";
import { VERIFY_EXIT } from "../verify-command.ts";
import { circuitMainPath } from "./setup.ts";

async function solidity(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { circuit: { type: "string" }, keys: { type: "string" }, out: { type: "string" } },
    strict: true,
  });
  if (!values.circuit) throw new UsageError("--circuit ID is required");
  const id = values.circuit.endsWith(".circom")
    ? (await circuitMainPath(values.circuit)).replace(/^.*\//, "").replace(/\.circom$/, "")
    : values.circuit;
  let contract: string;
  try {
    contract = await pinnedSolidityVerifier(values.keys ?? KEYS_DIR, id);
  } catch (error) {
    // A missing or mismatched key is a bad key file, not a failed proof check: exit 3 like `verify`.
    if (!(error instanceof PinMismatchError)) throw error;
    process.stderr.write(errorReport("export solidity", error));
    return VERIFY_EXIT.malformed;
  }
  if (values.out) {
    await writeFile(values.out, contract);
    process.stderr.write(`wrote the verifier of ${id} to ${values.out}\n`);
  } else {
    process.stdout.write(contract);
  }
  return 0;
}

const FORMATS = ["snarkjs", "words", "abi"] as const;

async function calldata(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { format: { type: "string", default: "snarkjs" } },
    allowPositionals: true,
    strict: true,
  });
  const [file, ...extra] = positionals;
  if (!file || extra.length > 0)
    throw new UsageError("expected exactly one FILE (a proof bundle or {publicSignals, proof})");
  const format = values.format as (typeof FORMATS)[number];
  if (!FORMATS.includes(format)) throw new UsageError(`--format must be one of ${FORMATS.join(", ")}`);
  let json: unknown;
  try {
    json = parseStrictJson(await readFile(file, "utf8"));
  } catch (err) {
    throw new UsageError(`${file}: not readable JSON (${(err as Error).message})`);
  }
  let source: ReturnType<typeof calldataFromJson>;
  try {
    source = calldataFromJson(json);
  } catch (err) {
    if (!(err instanceof VerifierInputError)) throw err;
    process.stderr.write(`zktally export calldata: ${file}: ${err.message}\n`);
    return 2;
  }
  const { calldata: cd } = source;
  if (format === "snarkjs") process.stdout.write(`${snarkjsCalldataString(cd)}\n`);
  else if (format === "abi") process.stdout.write(`${abiEncodeVerifyProof(cd)}\n`);
  else
    process.stdout.write(`${JSON.stringify({ proof: proofWords(cd), publicSignals: cd.input }, null, 2)}\n`);
  return 0;
}

export const exportCommand: Command = {
  name: "export",
  usage: [
    "export solidity --circuit ID [--keys DIR] [--out FILE]   Solidity verifier of a pinned key (snarkjs template)",
    "export calldata FILE [--format snarkjs|words|abi]   verifyProof calldata for a proof bundle or {publicSignals, proof}",
  ],
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === "solidity") return solidity(rest);
    if (sub === "calldata") return calldata(rest);
    throw new UsageError("expected `export solidity` or `export calldata`");
  },
};
