/**
 * @module cli/verify-command
 *
 * `zktally verify BUNDLE... --keys DIR|FILE [--manifest FILE] [--operator-key HEX] [--nonce N]
 * [--history FILE] [--allow-insecure-keys] [--json]` checks proof bundles (v1 single-proof or v2 chain bundles, docs/bundle.md)
 * offline with the partner SDK. `--keys` is a keys directory (`manifest.json` pinning each
 * `<circuitId>.vkey.json`) or the JSON the service answers at `GET /v1/circuits` (saved to a file). Exit codes
 * ({@link VERIFY_EXIT}): 0 every bundle valid, 1 a bundle is invalid, 2 bad usage, 3 malformed input (a bundle,
 * key or manifest file that is not what it should be, or cannot be read), 4 refused because the keys are
 * marked insecure (development keys, accepted only with `--allow-insecure-keys`); with several bundles the
 * highest code of any bundle. `zktally inspect BUNDLE [--json]` parses a bundle of either format strictly
 * and prints its statement, recomputed from its contents, and its circuits (a chain: the chunk count and the
 * chunk and final circuits), without verifying anything (0, or 3 when malformed).
 *
 * Security caveats: trust comes from `--keys` (a keys directory pins each key by hash; a circuit listing
 * is only as good as the channel it was fetched over) and from `--operator-key` and/or the pinned
 * `--manifest`; at least one of the latter is required. The bundle's circuit id is validated before it is
 * used in a file name. Text that comes from a bundle is printed with control and bidi-override characters
 * escaped, so a hostile bundle cannot rewrite the terminal line that says VALID or INVALID.
 *
 * Startup: this module imports only the SDK and Node built-ins, and cli/main.ts loads it without the
 * operator commands, so `zktally verify` starts in a fraction of a second.
 */
import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { parseAnyManifest } from "../dataset/manifest.ts";
import { parseStrictJson } from "../util/strict-json.ts";
import { type ParsedBundle, type ProofBundle, parseBundle } from "../verifier/bundle.ts";
import { type ChainBundle, parseChainBundle } from "../verifier/chain-bundle.ts";
import { isCircuitListing, keysFromCircuitListing } from "../verifier/circuit-listing.ts";
import { describeStatement } from "../verifier/describe.ts";
import {
  type DpChainVerified,
  type DpChainVerifyResult,
  isDpChainBundle,
  parseDpChainBundle,
} from "../verifier/dp-chain.ts";
import {
  type DpHistogramVerified,
  type DpHistogramVerifyResult,
  isDpHistogramBundle,
  parseDpHistogramBundle,
  verifyDpHistogram,
} from "../verifier/dp-histogram.ts";
import { InsecureKeysError, VerifierInputError } from "../verifier/errors.ts";
import { checkAgainstHistory, verifyHistory } from "../verifier/history.ts";
import { checkManifestKey, resolveKeyChain } from "../verifier/key-chain.ts";
import { describePassAnswer, type PassAnswer, parsePassBundle } from "../verifier/pass-bundle.ts";
import {
  isReleaseDocument,
  parseRelease,
  type ReleaseVerified,
  type ReleaseVerifyResult,
  verifyRelease,
} from "../verifier/release.ts";
import type { BundleVerified, BundleVerifyResult } from "../verifier/verify-bundle.ts";
import {
  type ChainVerified,
  type ChainVerifyResult,
  isChainBundle,
  verifyAny,
} from "../verifier/verify-chain.ts";
import {
  isPassBundle,
  type PassVerified,
  type PassVerifyResult,
  verifyPass,
} from "../verifier/verify-pass.ts";
import { type Command, UsageError } from "./command.ts";
import { passAnswerLines } from "./pass-lines.ts";

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

/** The exit codes of `zktally verify` and `zktally inspect` (documented in docs/bundle.md and `--help`). */
export const VERIFY_EXIT = { valid: 0, invalid: 1, usage: 2, malformed: 3, refused: 4 } as const;

/** Input the user gave that cannot be read: malformed, like a malformed bundle. */
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

interface PinnedKeys {
  readonly keysManifest: unknown;
  readonly keys: Record<string, unknown>;
}

/** The keys manifest and the pinned keys of `circuitIds` (a key absent from the directory is left out). */
async function readKeysDirectory(keysDir: string, circuitIds: readonly string[]): Promise<PinnedKeys> {
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

/** The keys of a saved `GET /v1/circuits` answer (verifier/circuit-listing.ts). */
async function readCircuitListing(file: string): Promise<PinnedKeys> {
  const listing = await readJsonFile(file, "keys file");
  if (!isCircuitListing(listing)) {
    throw new InputFileError(
      `keys file ${file}: not a GET /v1/circuits answer ({"circuits": [...]}); pass that answer saved to a file, or a keys directory holding manifest.json`,
    );
  }
  return keysFromCircuitListing(listing, "keys");
}

/** `--keys`: a keys directory or a circuit listing file. */
async function readPinnedKeys(keysPath: string, circuitIds: readonly string[]): Promise<PinnedKeys> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(keysPath)).isDirectory();
  } catch (error) {
    throw new InputFileError(
      `keys ${keysPath}: cannot read (${(error as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
  return isDirectory ? readKeysDirectory(keysPath, circuitIds) : readCircuitListing(keysPath);
}

/** The circuits a bundle of either format names (parsed strictly: malformed input throws). */
function circuitsOf(bundle: unknown): string[] {
  if (isReleaseDocument(bundle)) {
    return parseRelease(bundle).document.bundles.flatMap((dp) => [dp.stepCircuitId, dp.finalCircuitId]);
  }
  if (isDpHistogramBundle(bundle)) {
    const dp = parseDpHistogramBundle(bundle).bundle;
    return [dp.stepCircuitId, dp.finalCircuitId];
  }
  if (isDpChainBundle(bundle)) {
    const dp = parseDpChainBundle(bundle).bundle;
    return [dp.chunkCircuitId, dp.finalCircuitId];
  }
  if (!isChainBundle(bundle)) return [parseBundle(bundle).bundle.circuitId];
  if (isPassBundle(bundle)) {
    const pass = parsePassBundle(bundle).bundle;
    return [pass.stepCircuitId, pass.finalCircuitId];
  }
  const chain = parseChainBundle(bundle).bundle;
  return [chain.chunkCircuitId, chain.finalCircuitId];
}

function validLines(result: Verified): string[] {
  if ("chunkCount" in result) {
    return [
      ...("privacy" in result
        ? [
            `  privacy    epsilon ${result.privacy.epsilon}, delta ${result.privacy.delta} (${result.privacy.mechanism})`,
          ]
        : []),
      `  chunks     ${result.chunkCount} (circuit ${result.chunkCircuitId}, key ${result.chunkVkeyHash})`,
      `  final      ${result.finalCircuitId}, key ${result.finalVkeyHash}`,
    ];
  }
  return [`  circuit    ${result.circuitId}`, `  key        ${result.vkeyHash}`];
}

/** A verified pass bundle: one VALID line per query (histograms as tables), then the chain's facts. */
function passLines(result: PassVerified): string[] {
  return [
    ...passAnswerLines(result, "VALID  ", printable),
    `  dataset    ${printable(result.datasetId)} epoch ${result.epoch}, minimum group size ${result.minGroupSize}`,
    `  chunks     ${result.chunkCount} (circuit ${result.stepCircuitId}, key ${result.stepVkeyHash})`,
    `  final      ${result.finalCircuitId}, key ${result.finalVkeyHash}`,
  ];
}

/** A verified dp-histogram bundle: one VALID line per table, then the chain's facts. */
function histogramLines(result: DpHistogramVerified): string[] {
  return [
    ...result.statements.map((statement, q) => `VALID  [${q}] ${printable(statement)}`),
    `  dataset    ${printable(result.datasetId)} epoch ${result.epoch}`,
    `  chunks     ${result.chunkCount} (circuit ${result.stepCircuitId}, key ${result.stepVkeyHash})`,
    `  final      ${result.finalCircuitId}, key ${result.finalVkeyHash}`,
  ];
}

/** A verified release: its table, its tiers, then each bundle's tables. */
function releaseLines(result: ReleaseVerified): string[] {
  const tiers = result.tiers.map((tier) => `${tier.name} (${tier.epsilon}, ${tier.delta})`);
  return [
    `VALID  release of dataset ${printable(result.datasetId)} epoch ${result.epoch}: ${result.rows} rows, ${result.withheld} cells withheld below ${result.threshold} (noisy)`,
    `  tiers      ${printable(tiers.join(", "))}`,
    ...result.bundles.flatMap((bundle) => histogramLines(bundle).map((line) => `  ${line}`)),
  ];
}

/** How one bundle's outcome is printed: JSON lines carry `file` when several bundles are checked. */
export interface Report {
  readonly json: boolean;
  readonly output: Output;
  readonly file?: string;
}

function jsonLine(report: Report, body: object): string {
  return `${JSON.stringify(report.file === undefined ? body : { file: report.file, ...body })}\n`;
}

export function writeResult(
  result:
    | BundleVerifyResult
    | ChainVerifyResult
    | DpChainVerifyResult
    | PassVerifyResult
    | DpHistogramVerifyResult
    | ReleaseVerifyResult
    | HistoryRejection,
  report: Report,
): number {
  const { output } = report;
  if (report.json) {
    output.out(jsonLine(report, result));
    return result.valid ? VERIFY_EXIT.valid : VERIFY_EXIT.invalid;
  }
  if (!result.valid) {
    const at = "at" in result && result.at !== undefined ? ` [chunk: ${result.at}]` : "";
    output.out(`INVALID  ${printable(result.reason)} [check: ${result.check}]${at}\n`);
    return VERIFY_EXIT.invalid;
  }
  if ("kind" in result && result.kind === "release") {
    output.out(`${releaseLines(result).join("\n")}\n`);
    return VERIFY_EXIT.valid;
  }
  const lines = [
    ...("kind" in result && result.kind === "dp-histogram"
      ? histogramLines(result)
      : "statements" in result
        ? passLines(result)
        : [`VALID  ${printable(result.statement)}`, ...validLines(result)]),
    `  manifest   ${result.manifestHash}`,
    `  operator   ${result.operatorKey}`,
    `  nonce      ${result.nonce}`,
    `  created    ${printable(result.createdAt)}`,
    ...result.warnings.map((warning) => `  warning    ${printable(warning)}`),
  ];
  output.out(`${lines.join("\n")}\n`);
  return VERIFY_EXIT.valid;
}

/** Keys the keys manifest marks insecure, without `--allow-insecure-keys`: exit 4, not VALID. */
export function writeInsecureRefusal(error: InsecureKeysError, report: Report): number {
  const { output } = report;
  if (report.json) {
    output.out(
      jsonLine(report, { valid: false, refused: true, check: "insecure-keys", reason: error.reason }),
    );
  } else {
    output.err(
      `REFUSED  ${printable(error.reason)}\n  pass --allow-insecure-keys only to check a development setup or demo\n`,
    );
  }
  return VERIFY_EXIT.refused;
}

/** Malformed input (bundle, manifest, keys, unreadable files): exit 3. */
export function writeMalformed(error: VerifierInputError | InputFileError, report: Report): number {
  const { output } = report;
  if (report.json) {
    const body =
      error instanceof VerifierInputError
        ? { valid: false, malformed: true, field: error.field, reason: error.reason }
        : { valid: false, malformed: true, reason: error.message };
    output.out(jsonLine(report, body));
  } else {
    output.err(`MALFORMED  ${printable(error.message)}\n`);
  }
  return VERIFY_EXIT.malformed;
}

const VERIFY_OPTIONS = {
  keys: { type: "string" },
  manifest: { type: "string" },
  "operator-key": { type: "string" },
  nonce: { type: "string" },
  tsv: { type: "string" },
  history: { type: "string" },
  "key-chain": { type: "string" },
  "manifest-receipt": { type: "string" },
  "log-key": { type: "string" },
  "log-key-chain": { type: "string" },
  "allow-insecure-keys": { type: "boolean", default: false },
  json: { type: "boolean", default: false },
} as const;

type VerifyValues = ReturnType<typeof parseVerifyArgs>["values"];

function parseVerifyArgs(args: string[]) {
  const parsed = parseArgs({ args, options: VERIFY_OPTIONS, allowPositionals: true, strict: true });
  if (parsed.positionals.length === 0)
    throw new UsageError("verify takes one or more bundle files, got none");
  if (parsed.values.keys === undefined) {
    throw new UsageError(
      "verify needs --keys DIR (the pinned verification keys) or --keys FILE (the saved GET /v1/circuits answer)",
    );
  }
  if (parsed.values.manifest === undefined && parsed.values["operator-key"] === undefined) {
    throw new UsageError(
      "verify needs --manifest FILE and/or --operator-key HEX: the operator's key is the root of trust",
    );
  }
  return parsed;
}

/**
 * `--key-chain FILE` (with the pinned `--operator-key`): the bundle's manifest key must be reached from the
 * pinned key by rotation statements; a revoked key also needs `--manifest-receipt FILE` and `--log-key HEX`
 * (the manifest was logged before the revocation), the log's pinned first key, and after an audit-log key
 * rotation `--log-key-chain FILE` (GET /v1/transparency/log-keys), followed from it to the key that signed
 * the receipt. Returns the key to verify the manifest with.
 */
async function keyChainOf(
  values: VerifyValues,
  bundle: unknown,
): Promise<({ ok: true; key: string; keys: readonly string[] } | { ok: false; reason: string }) | undefined> {
  if (values["key-chain"] === undefined) return undefined;
  const pinned = values["operator-key"];
  if (pinned === undefined)
    throw new UsageError("--key-chain needs --operator-key HEX (the pinned key it starts from)");
  const chain = resolveKeyChain(pinned, await readJsonFile(values["key-chain"], "key chain"));
  const receipt =
    values["manifest-receipt"] === undefined
      ? undefined
      : await readJsonFile(values["manifest-receipt"], "receipt");
  const manifest = parseAnyManifest((bundle as { manifest?: unknown }).manifest);
  const checked = checkManifestKey(manifest, chain, {
    ...(receipt === undefined ? {} : { receipt }),
    ...(values["log-key"] === undefined ? {} : { logKey: values["log-key"] }),
    ...(await logKeyRotationsOf(values)),
  });
  return checked.ok ? { ...checked, keys: chain.keys } : checked;
}

/** `--log-key-chain FILE`: the log key rotations, read from the file (it needs the pinned `--log-key`). */
async function logKeyRotationsOf(values: VerifyValues): Promise<{ logKeyRotations?: unknown }> {
  const file = values["log-key-chain"];
  if (file === undefined) return {};
  if (values["log-key"] === undefined)
    throw new UsageError("--log-key-chain needs --log-key HEX (the audit log's pinned first key)");
  return { logKeyRotations: await readJsonFile(file, "log key chain") };
}

/** The SDK check of one parsed bundle: a pass bundle by `verifyPass`, any other by `verifyAny`. */
export function verifyWithSdk(bundle: unknown, options: Parameters<typeof verifyAny>[1]) {
  return isPassBundle(bundle) ? verifyPass(bundle, options) : verifyAny(bundle, options);
}

/** Verifies one bundle file and prints its outcome; returns its exit code. */
async function verifyFile(bundleFile: string, values: VerifyValues, report: Report): Promise<number> {
  try {
    const bundle = await readJsonFile(bundleFile, "bundle");
    const { keysManifest, keys } = await readPinnedKeys(values.keys as string, circuitsOf(bundle));
    const manifest =
      values.manifest === undefined ? undefined : await readJsonFile(values.manifest, "manifest");
    const chain = await keyChainOf(values, bundle);
    if (chain !== undefined && !chain.ok) {
      return writeResult({ valid: false, check: "key-chain", reason: chain.reason }, report);
    }
    const operatorKey = chain?.key ?? values["operator-key"];
    const options = {
      keys,
      keysManifest,
      ...(operatorKey === undefined ? {} : { operatorKey }),
      ...(manifest === undefined ? {} : { manifest }),
      ...(values.nonce === undefined ? {} : { expectedNonce: values.nonce }),
      allowInsecureKeys: values["allow-insecure-keys"],
    };
    const noisy = await verifyNoisyTables(bundle, bundleFile, values, options);
    if (noisy !== undefined) return writeResult(noisy, report);
    const result = verifyWithSdk(bundle, options);
    if (values.history === undefined || !result.valid) return writeResult(result, report);
    if ("statements" in result) {
      const reason = "--history is not supported for pass bundles yet";
      return writeResult({ valid: false, check: "history", reason }, report);
    }
    const history = await readJsonFile(values.history, "history");
    return writeResult(placeOnHistory(result, bundle, history, chain?.keys ?? [result.operatorKey]), report);
  } catch (error) {
    if (error instanceof InsecureKeysError) return writeInsecureRefusal(error, report);
    if (error instanceof VerifierInputError || error instanceof InputFileError) {
      return writeMalformed(error, report);
    }
    throw error;
  }
}

/** A release (with its TSV: `--tsv`, or the release file with .tsv) or a dp-histogram bundle; else undefined. */
async function verifyNoisyTables(
  bundle: unknown,
  bundleFile: string,
  values: VerifyValues,
  options: Parameters<typeof verifyDpHistogram>[1],
): Promise<ReleaseVerifyResult | DpHistogramVerifyResult | undefined> {
  if (isDpHistogramBundle(bundle)) return verifyDpHistogram(bundle, options);
  if (!isReleaseDocument(bundle)) return undefined;
  const tsvFile = values.tsv ?? bundleFile.replace(/(\.json)?$/, ".tsv");
  const tsv = await readFile(tsvFile, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new InputFileError(`release TSV ${tsvFile}: cannot read (${error.code ?? "error"})`);
  });
  return verifyRelease(bundle, tsv, options);
}

type Verified = BundleVerified | ChainVerified | DpChainVerified;
type HistoryRejection = { valid: false; check: string; reason: string };

/**
 * `--history FILE`: the verified bundle's manifest must lie on the history's epoch chain (design.md section
 * 5), signed by the key the bundle verified under; a fork or a broken chain is INVALID. On success a warning
 * line says how many later epochs exist.
 */
function placeOnHistory(
  result: Verified,
  bundle: unknown,
  history: unknown,
  operatorKeys: readonly string[],
): Verified | HistoryRejection {
  const chain = verifyHistory(history, { operatorKeys });
  if (!chain.valid) return { valid: false, check: `history-${chain.check}`, reason: chain.reason };
  const placed = checkAgainstHistory((bundle as { manifest?: unknown }).manifest, chain);
  if (!placed.valid) return { valid: false, check: `history-${placed.check}`, reason: placed.reason };
  const note =
    placed.laterEpochs === 0
      ? `epoch ${placed.epoch} is the history's latest`
      : `epoch ${placed.epoch} is superseded: ${placed.laterEpochs} later epoch(s), latest ${placed.headEpoch}`;
  return { ...result, warnings: [...result.warnings, note] };
}

/** `zktally verify`; returns the exit code (the highest of the bundles' codes). */
export async function runVerify(args: string[], output: Output = processOutput): Promise<number> {
  const { values, positionals } = parseVerifyArgs(args);
  if (positionals.length === 1) {
    return verifyFile(positionals[0] as string, values, { json: values.json, output });
  }
  const codes: number[] = [];
  for (const file of positionals) {
    if (!values.json) output.out(`${codes.length === 0 ? "" : "\n"}bundle ${printable(file)}\n`);
    codes.push(await verifyFile(file, values, { json: values.json, output, file }));
  }
  if (!values.json) {
    const count = (code: number) => codes.filter((each) => each === code).length;
    const parts = [
      `${count(VERIFY_EXIT.valid)} valid`,
      `${count(VERIFY_EXIT.invalid)} invalid`,
      `${count(VERIFY_EXIT.malformed)} malformed`,
      `${count(VERIFY_EXIT.refused)} refused`,
    ];
    output.out(`\n${codes.length} bundles: ${parts.join(", ")}\n`);
  }
  return Math.max(...codes);
}

/** What `inspect` shows of a pass bundle: every query's statement recomputed, and the circuits. */
function passInspection(value: unknown) {
  const { bundle, schema, queryHashes } = parsePassBundle(value);
  const statements = bundle.queries.map((query, q) =>
    describePassAnswer(query, bundle.answers[q] as PassAnswer, schema, bundle.minGroupSize),
  );
  return {
    verified: false,
    kind: "pass" as const,
    format: bundle.format,
    statements,
    statementsMatchBundle: statements.every((statement, q) => statement === bundle.statements[q]),
    queries: bundle.queries,
    answers: bundle.answers,
    queryHashes,
    datasetId: bundle.manifest.datasetId,
    epoch: bundle.manifest.epoch,
    operatorKey: bundle.manifest.operatorKey,
    minGroupSize: bundle.minGroupSize,
    nonce: bundle.nonce,
    createdAt: bundle.createdAt,
    chunkCount: bundle.chunks.length,
    chunkCircuitId: bundle.stepCircuitId,
    chunkVkeyHash: bundle.stepVkeyHash,
    finalCircuitId: bundle.finalCircuitId,
    finalVkeyHash: bundle.finalVkeyHash,
  };
}

/** `inspect`'s text for a pass bundle. */
function passInspectionLines(view: ReturnType<typeof passInspection>): string[] {
  return [
    "NOT VERIFIED (inspect only reads the bundle; run `zktally verify` to check it)",
    ...passAnswerLines(view, "  ", printable),
    ...(view.statementsMatchBundle
      ? []
      : ["  warning    the bundle's own statement texts differ from these"]),
    `  dataset    ${printable(view.datasetId)} epoch ${view.epoch}, minimum group size ${view.minGroupSize}`,
    ...inspectedCircuitLines(view),
    `  operator   ${view.operatorKey}`,
    `  nonce      ${view.nonce}`,
    `  created    ${printable(view.createdAt)}`,
  ];
}

/** What `inspect` shows of either format: the statement recomputed from the bundle, and its identifiers. */
function inspection(value: unknown) {
  if (isChainBundle(value)) {
    const { bundle, schema, queryHash } = parseChainBundle(value);
    return {
      ...commonInspection(bundle, schema, queryHash),
      format: bundle.format,
      chunkCount: bundle.chunks.length,
      chunkCircuitId: bundle.chunkCircuitId,
      chunkVkeyHash: bundle.chunkVkeyHash,
      finalCircuitId: bundle.finalCircuitId,
      finalVkeyHash: bundle.finalVkeyHash,
    };
  }
  const { bundle, schema, queryHash } = parseBundle(value) as ParsedBundle;
  return {
    ...commonInspection(bundle, schema, queryHash),
    format: bundle.format,
    circuitId: bundle.circuitId,
    vkeyHash: bundle.vkeyHash,
  };
}

function commonInspection(
  bundle: ProofBundle | ChainBundle,
  schema: ParsedBundle["schema"],
  queryHash: string,
) {
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
    operatorKey: bundle.manifest.operatorKey,
    answer: bundle.answer,
    minGroupSize: bundle.minGroupSize,
    nonce: bundle.nonce,
    queryHash,
    createdAt: bundle.createdAt,
  };
}

/** The circuit lines of `inspect` (one circuit, or the chunk and final circuits of a chain). */
function inspectedCircuitLines(
  view: ReturnType<typeof inspection> | ReturnType<typeof passInspection>,
): string[] {
  if ("chunkCount" in view) {
    return [
      `  chunks     ${view.chunkCount} (circuit ${view.chunkCircuitId}, key ${view.chunkVkeyHash})`,
      `  final      ${view.finalCircuitId}, key ${view.finalVkeyHash}`,
    ];
  }
  return [`  circuit    ${view.circuitId}`, `  key        ${view.vkeyHash}`];
}

/** `zktally inspect`; returns the exit code (0, or 3 for a malformed bundle). */
export async function runInspect(args: string[], output: Output = processOutput): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { json: { type: "boolean", default: false } },
    allowPositionals: true,
    strict: true,
  });
  const bundleFile = onePositional(positionals, "inspect");
  try {
    const value = await readJsonFile(bundleFile, "bundle");
    if (isPassBundle(value)) {
      const view = passInspection(value);
      output.out(values.json ? `${JSON.stringify(view)}\n` : `${passInspectionLines(view).join("\n")}\n`);
      return 0;
    }
    const view = inspection(value);
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
      ...inspectedCircuitLines(view),
      `  operator   ${view.operatorKey}`,
      `  nonce      ${view.nonce}`,
      `  created    ${printable(view.createdAt)}`,
    ];
    output.out(`${lines.join("\n")}\n`);
    return 0;
  } catch (error) {
    if (error instanceof VerifierInputError || error instanceof InputFileError) {
      return writeMalformed(error, { json: values.json, output });
    }
    throw error;
  }
}

const EXIT_CODES_HELP = `exit codes:
  0  valid (every bundle, when several are given)
  1  invalid: a check failed (signature, pinned key, public signals, proof, nonce, ...)
  2  bad usage (unknown option, missing --keys, ...)
  3  malformed input: a bundle, keys or manifest file that cannot be read or is not what it should be
  4  refused: the keys are marked insecure (development setup) and --allow-insecure-keys was not given
with several bundles the exit code is the highest of theirs`;

export const verifyCommand: Command = {
  name: "verify",
  usage: [
    "verify BUNDLE... --keys DIR|FILE (--operator-key HEX | --manifest FILE) [--nonce N] [--history FILE]",
    "       [--key-chain FILE [--manifest-receipt FILE --log-key HEX [--log-key-chain FILE]]]",
    "       [--allow-insecure-keys] [--json]",
    "       (--history: the dataset's manifests, the bundle must be on their chain; --key-chain: the operator's",
    "        key statements from the pinned --operator-key, GET /v1/operator-keys; --log-key-chain: the audit",
    "        log's key rotations from the pinned first --log-key, GET /v1/transparency/log-keys)",
    "       check proof bundles offline (exit 0 valid, 1 invalid, 2 usage, 3 malformed, 4 insecure keys refused)",
  ],
  help: `usage: zktally verify BUNDLE... --keys DIR|FILE (--operator-key HEX | --manifest FILE) [options]

Checks proof bundles (zktally-bundle/v1, v2 and v3) and releases (zktally-release/v1) offline with the verifier SDK and says what each proves.

  --keys DIR|FILE        the pinned verification keys: a keys directory (manifest.json and
                         <circuitId>.vkey.json files), or the service's GET /v1/circuits answer saved to a file
  --operator-key HEX     the operator's Ed25519 public key (64 hex characters) the manifest must be signed with
  --manifest FILE        the pinned signed dataset manifest the bundle's must equal
  --nonce N              the nonce you sent with the query (rejects a bundle answering another request)
  --tsv FILE             a release's TSV (default: the release file with .tsv for .json): its rows must be
                         exactly the proven cells at or above the release threshold
  --history FILE         the dataset's manifest history (GET /v1/datasets/ID/history): the bundle's manifest
                         must lie on its epoch chain; a later epoch is reported as a warning
  --key-chain FILE       the operator's key statements (GET /v1/operator-keys): the manifest's key must be
                         reached from --operator-key by rotations; a revoked key needs a manifest receipt
  --manifest-receipt FILE  the audit-log receipt of the manifest's registration (logged before a revocation)
  --log-key HEX          the audit log's pinned FIRST key, which the receipt's head must be signed by, or
  --log-key-chain FILE   the log's key rotations (GET /v1/transparency/log-keys), followed from --log-key to
                         the key in force for the receipt's tree size (a receipt fetched after a rotation)
  --allow-insecure-keys  accept development keys (a demo or test setup only: whoever ran it can forge proofs)
  --json                 one JSON object per bundle (with "file" when several are given)
  --help                 this text

${EXIT_CODES_HELP}
`,
  run: (args) => runVerify(args),
};

export const inspectCommand: Command = {
  name: "inspect",
  usage: ["inspect BUNDLE [--json]   print a bundle's statement without verifying it"],
  help: `usage: zktally inspect BUNDLE [--json]

Parses a zktally-bundle/v1 bundle strictly and prints its statement, recomputed from its contents, WITHOUT
verifying anything (run zktally verify for that).

  --json   the inspection as one JSON object
  --help   this text

exit codes: 0 read, 2 bad usage, 3 malformed bundle
`,
  run: (args) => runInspect(args),
};
