/**
 * @module cli/verify-command
 *
 * `zktally verify BUNDLE --keys DIR [--manifest FILE] [--operator-key HEX] [--nonce N] [--allow-insecure-keys]
 * [--json]` checks a proof bundle (v1 single-proof or v2 chain bundle, docs/bundle.md) offline with the partner SDK: exit 0 valid, 1 invalid,
 * 2 malformed input or usage, 3 refused because the keys manifest marks the keys insecure (development keys,
 * accepted only with `--allow-insecure-keys`). `zktally inspect BUNDLE [--json]` parses a bundle strictly and prints its statement, recomputed
 * from its contents, without verifying anything.
 *
 * Security caveats: trust comes from `--keys` (its `manifest.json` pins each `<circuitId>.vkey.json` by
 * hash) and from `--operator-key` and/or the pinned `--manifest`; at least one of the latter is required.
 * The bundle's circuit id is validated before it is used in a file name. Text that comes from a bundle
 * is printed with control and bidi-override characters escaped, so a hostile bundle cannot rewrite the
 * terminal line that says VALID or INVALID.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { parseStrictJson } from "../util/strict-json.ts";
import { type ParsedBundle, parseBundle } from "../verifier/bundle.ts";
import { parseChainBundle } from "../verifier/chain-bundle.ts";
import { describeStatement } from "../verifier/describe.ts";
import { InsecureKeysError, VerifierInputError } from "../verifier/errors.ts";
import { checkAgainstHistory, verifyHistory } from "../verifier/history.ts";
import type { BundleVerified, BundleVerifyResult } from "../verifier/verify-bundle.ts";
import {
  type ChainVerified,
  type ChainVerifyResult,
  isChainBundle,
  verifyAny,
} from "../verifier/verify-chain.ts";
import { type Command, UsageError } from "./command.ts";

type Write = (text: string) => void;

/** Where output goes; tests and embedding callers may replace it. */
export interface Output {
  readonly out: Write;
  readonly err: Write;
}

const processOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Input the user gave that cannot be read: exit 2 like malformed bundles. */
class InputFileError extends Error {
  override name = "InputFileError";
}

/** Escapes C0/C1 control characters and bidi overrides (everything else prints as-is). */
export function printable(text: string): string {
  return text.replace(/[\p{Cc}\u202a-\u202e\u2066-\u2069]/gu, (char) => {
    return `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}

async function readJsonFile(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new InputFileError(
      `${what} ${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
  try {
    return parseStrictJson(text);
  } catch (error) {
    throw new InputFileError(`${what} ${file}: not valid JSON (${(error as Error).message})`);
  }
}

function onePositional(positionals: string[], command: string): string {
  if (positionals.length !== 1) {
    throw new UsageError(`${command} takes exactly one bundle file, got ${positionals.length}`);
  }
  return positionals[0] as string;
}

/** The keys manifest and the pinned keys of `circuitIds` (a key absent from the directory is left out). */
async function readPinnedKeys(
  keysDir: string,
  circuitIds: readonly string[],
): Promise<{ keysManifest: unknown; keys: Record<string, unknown> }> {
  const manifestFile = path.join(keysDir, "manifest.json");
  if (!existsSync(manifestFile)) throw new InputFileError(`keys directory ${keysDir} has no manifest.json`);
  const keysManifest = await readJsonFile(manifestFile, "keys manifest");
  const keys: Record<string, unknown> = {};
  for (const circuitId of circuitIds) {
    // Circuit ids passed the strict id patterns of the bundle parsers, so they are plain file names.
    const vkeyFile = path.join(keysDir, `${circuitId}.vkey.json`);
    if (existsSync(vkeyFile)) keys[circuitId] = await readJsonFile(vkeyFile, "verification key");
  }
  return { keysManifest, keys };
}

/** The circuits a bundle of either format names (parsed strictly: malformed input throws). */
function circuitsOf(bundle: unknown): string[] {
  if (!isChainBundle(bundle)) return [parseBundle(bundle).bundle.circuitId];
  const chain = parseChainBundle(bundle).bundle;
  return [chain.chunkCircuitId, chain.finalCircuitId];
}

function validLines(result: BundleVerified | ChainVerified): string[] {
  if ("chunkCount" in result) {
    return [
      `  chunks     ${result.chunkCount} (circuit ${result.chunkCircuitId}, key ${result.chunkVkeyHash})`,
      `  final      ${result.finalCircuitId}, key ${result.finalVkeyHash}`,
    ];
  }
  return [`  circuit    ${result.circuitId}`, `  key        ${result.vkeyHash}`];
}

function writeResult(
  result: BundleVerifyResult | ChainVerifyResult | HistoryRejection,
  json: boolean,
  output: Output,
): number {
  if (json) {
    output.out(`${JSON.stringify(result)}\n`);
    return result.valid ? 0 : 1;
  }
  if (!result.valid) {
    const at = "at" in result && result.at !== undefined ? ` [chunk: ${result.at}]` : "";
    output.out(`INVALID  ${printable(result.reason)} [check: ${result.check}]${at}\n`);
    return 1;
  }
  const lines = [
    `VALID  ${printable(result.statement)}`,
    ...validLines(result),
    `  manifest   ${result.manifestHash}`,
    `  operator   ${result.operatorKey}`,
    `  nonce      ${result.nonce}`,
    `  created    ${printable(result.createdAt)}`,
    ...result.warnings.map((warning) => `  warning    ${printable(warning)}`),
  ];
  output.out(`${lines.join("\n")}\n`);
  return 0;
}

/** Keys the keys manifest marks insecure, without `--allow-insecure-keys`: exit 3, not VALID. */
function writeInsecureRefusal(error: InsecureKeysError, json: boolean, output: Output): number {
  if (json) {
    output.out(
      `${JSON.stringify({ valid: false, refused: true, check: "insecure-keys", reason: error.reason })}\n`,
    );
  } else {
    output.err(
      `REFUSED  ${printable(error.reason)}\n  pass --allow-insecure-keys only to check a development setup or demo\n`,
    );
  }
  return 3;
}

/** Malformed input (bundle, manifest, keys, unreadable files): exit 2. */
function writeMalformed(error: VerifierInputError | InputFileError, json: boolean, output: Output): number {
  if (json) {
    const body =
      error instanceof VerifierInputError
        ? { valid: false, malformed: true, field: error.field, reason: error.reason }
        : { valid: false, malformed: true, reason: error.message };
    output.out(`${JSON.stringify(body)}\n`);
  } else {
    output.err(`MALFORMED  ${printable(error.message)}\n`);
  }
  return 2;
}

/** `zktally verify`; returns the exit code. */
export async function runVerify(args: string[], output: Output = processOutput): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      keys: { type: "string" },
      manifest: { type: "string" },
      "operator-key": { type: "string" },
      nonce: { type: "string" },
      history: { type: "string" },
      "allow-insecure-keys": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const bundleFile = onePositional(positionals, "verify");
  if (values.keys === undefined)
    throw new UsageError("verify needs --keys DIR (the pinned verification keys)");
  if (values.manifest === undefined && values["operator-key"] === undefined) {
    throw new UsageError(
      "verify needs --manifest FILE and/or --operator-key HEX: the operator's key is the root of trust",
    );
  }
  try {
    const bundle = await readJsonFile(bundleFile, "bundle");
    const { keysManifest, keys } = await readPinnedKeys(values.keys, circuitsOf(bundle));
    const manifest =
      values.manifest === undefined ? undefined : await readJsonFile(values.manifest, "manifest");
    const result = verifyAny(bundle, {
      keys,
      keysManifest,
      ...(values["operator-key"] === undefined ? {} : { operatorKey: values["operator-key"] }),
      ...(manifest === undefined ? {} : { manifest }),
      ...(values.nonce === undefined ? {} : { expectedNonce: values.nonce }),
      allowInsecureKeys: values["allow-insecure-keys"],
    });
    if (values.history === undefined || !result.valid) return writeResult(result, values.json, output);
    const history = await readJsonFile(values.history, "history");
    return writeResult(placeOnHistory(result, bundle, history), values.json, output);
  } catch (error) {
    if (error instanceof InsecureKeysError) return writeInsecureRefusal(error, values.json, output);
    if (error instanceof VerifierInputError || error instanceof InputFileError) {
      return writeMalformed(error, values.json, output);
    }
    throw error;
  }
}

type Verified = BundleVerified | ChainVerified;
type HistoryRejection = { valid: false; check: string; reason: string };

/**
 * `--history FILE`: the verified bundle's manifest must lie on the history's epoch chain (design.md section
 * 5), signed by the key the bundle verified under; a fork or a broken chain is INVALID. On success a warning
 * line says how many later epochs exist.
 */
function placeOnHistory(result: Verified, bundle: unknown, history: unknown): Verified | HistoryRejection {
  const chain = verifyHistory(history, { operatorKeys: [result.operatorKey] });
  if (!chain.valid) return { valid: false, check: `history-${chain.check}`, reason: chain.reason };
  const placed = checkAgainstHistory((bundle as { manifest?: unknown }).manifest, chain);
  if (!placed.valid) return { valid: false, check: `history-${placed.check}`, reason: placed.reason };
  const note =
    placed.laterEpochs === 0
      ? `epoch ${placed.epoch} is the history's latest`
      : `epoch ${placed.epoch} is superseded: ${placed.laterEpochs} later epoch(s), latest ${placed.headEpoch}`;
  return { ...result, warnings: [...result.warnings, note] };
}

function inspection(parsed: ParsedBundle) {
  const { bundle, schema } = parsed;
  const statement = describeStatement({
    manifest: bundle.manifest,
    schema,
    query: bundle.query,
    answer: bundle.answer,
    minGroupSize: bundle.minGroupSize,
  });
  return {
    verified: false,
    statement,
    statementMatchesBundle: statement === bundle.statement,
    datasetId: bundle.manifest.datasetId,
    epoch: bundle.manifest.epoch,
    circuitId: bundle.circuitId,
    vkeyHash: bundle.vkeyHash,
    operatorKey: bundle.manifest.operatorKey,
    answer: bundle.answer,
    minGroupSize: bundle.minGroupSize,
    nonce: bundle.nonce,
    queryHash: parsed.queryHash,
    createdAt: bundle.createdAt,
  };
}

/** `zktally inspect`; returns the exit code (0, or 2 for a malformed bundle). */
export async function runInspect(args: string[], output: Output = processOutput): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { json: { type: "boolean", default: false } },
    allowPositionals: true,
    strict: true,
  });
  const bundleFile = onePositional(positionals, "inspect");
  try {
    const view = inspection(parseBundle(await readJsonFile(bundleFile, "bundle")));
    if (values.json) {
      output.out(`${JSON.stringify(view)}\n`);
      return 0;
    }
    const lines = [
      "NOT VERIFIED (inspect only reads the bundle; run `zktally verify` to check it)",
      `  statement  ${printable(view.statement)}`,
      ...(view.statementMatchesBundle
        ? []
        : ["  warning    the bundle's own statement text differs from this"]),
      `  circuit    ${view.circuitId}`,
      `  key        ${view.vkeyHash}`,
      `  operator   ${view.operatorKey}`,
      `  nonce      ${view.nonce}`,
      `  created    ${printable(view.createdAt)}`,
    ];
    output.out(`${lines.join("\n")}\n`);
    return 0;
  } catch (error) {
    if (error instanceof VerifierInputError || error instanceof InputFileError) {
      return writeMalformed(error, values.json, output);
    }
    throw error;
  }
}

export const verifyCommand: Command = {
  name: "verify",
  usage: [
    "verify BUNDLE --keys DIR [--manifest FILE] [--operator-key HEX] [--nonce N] [--history FILE]",
    "       [--allow-insecure-keys] [--json]   (--history: the dataset's manifests; the bundle must be on their chain)",
    "       check a proof bundle offline (exit 0 valid, 1 invalid, 2 malformed, 3 insecure keys refused)",
  ],
  run: (args) => runVerify(args),
};

export const inspectCommand: Command = {
  name: "inspect",
  usage: ["inspect BUNDLE [--json]   print a bundle's statement without verifying it"],
  run: (args) => runInspect(args),
};
