/**
 * @module cli/commands/ceremony
 *
 * `zktally ceremony init | contribute | beacon | verify | finalize`: the multi-party phase 2 of
 * setup/ceremony/ with files passed around (docs/ceremony.md). Exit codes: 0 success, 1 a check failed
 * (refused ptau, broken chain, failed replay, manifest mismatch), 2 bad usage. `--json` prints each
 * subcommand's result as one JSON line on stdout instead of its text (progress stays on stderr).
 */
import path from "node:path";
import { parseArgs } from "node:util";
import { KEYS_DIR } from "../../config/defaults.ts";
import {
  beaconCeremony,
  CeremonyError,
  contributeCeremony,
  finalizeCeremony,
  formatContributionHash,
  initCeremony,
  readTranscript,
  TRANSCRIPT_FILE,
  verifyCeremony,
} from "../../setup/ceremony/index.ts";
import { UntrustedPtauError } from "../../setup/ceremony-ptau.ts";
import { compileCircuit } from "../../setup/compile.ts";
import { consoleProgress } from "../../util/progress.ts";
import { type Command, UsageError } from "../command.ts";
import { circuitMainPath } from "./setup.ts";

const out = (line: string) => process.stdout.write(`${line}\n`);
const progress = consoleProgress({ tag: "ceremony" });

/** `--json`, taken by every subcommand. */
const JSON_FLAG = { json: { type: "boolean", default: false } } as const;

/** One JSON line with `--json`, else the subcommand's text lines. */
function printResult(json: boolean, result: Record<string, unknown>, lines: () => string[]): void {
  if (json) out(JSON.stringify(result));
  else for (const line of lines()) out(line);
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new UsageError(`${flag} is required`);
  return value;
}

function transcriptIn(dir: string | undefined, inZkey?: string): string {
  return path.join(dir ?? (inZkey ? path.dirname(inZkey) : "."), TRANSCRIPT_FILE);
}

async function init(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      circuit: { type: "string" },
      ptau: { type: "string" },
      out: { type: "string" },
      "allow-unknown-ptau": { type: "boolean", default: false },
      ...JSON_FLAG,
    },
    strict: true,
  });
  const main = await circuitMainPath(required(values.circuit, "--circuit"));
  const compiled = await compileCircuit(main, { progress });
  const step = await initCeremony({
    compiled,
    ptauPath: required(values.ptau, "--ptau"),
    dir: required(values.out, "--out"),
    allowUnknownPtau: values["allow-unknown-ptau"],
    progress,
  });
  const result = { circuit: compiled.id, zkey: step.zkeyPath, transcript: step.transcriptPath };
  printResult(values.json, result, () => [
    `ceremony for ${compiled.id} started in ${path.dirname(step.transcriptPath)}`,
    `send ${path.basename(step.zkeyPath)} and ${TRANSCRIPT_FILE} to the first contributor`,
  ]);
  return 0;
}

/** A contribution's (or the beacon's) result: its index and the hash to publish, then `next` lines. */
function printPublish(
  json: boolean,
  kind: string,
  done: { readonly entry: { readonly index: number; readonly contributionHash: string }; zkeyPath: string },
  next: string[] = [],
): void {
  const { index, contributionHash } = done.entry;
  printResult(json, { kind, index, contributionHash, zkey: done.zkeyPath }, () => [
    `${kind} #${index} done. Contribution hash (publish it; everyone can check it with 'ceremony verify'):`,
    formatContributionHash(contributionHash),
    ...next,
  ]);
}

async function contribute(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: "string" },
      in: { type: "string" },
      out: { type: "string" },
      name: { type: "string" },
      entropy: { type: "string" },
      ...JSON_FLAG,
    },
    strict: true,
  });
  const result = await contributeCeremony({
    transcriptPath: transcriptIn(values.dir, values.in),
    inZkey: values.in,
    outZkey: values.out,
    name: required(values.name, "--name"),
    entropy: values.entropy,
    progress,
  });
  printPublish(values.json, "contribution", result, [
    `pass ${path.basename(result.zkeyPath)} and ${TRANSCRIPT_FILE} on to the next party`,
  ]);
  return 0;
}

async function beacon(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: "string" },
      in: { type: "string" },
      out: { type: "string" },
      hash: { type: "string" },
      iterations: { type: "string", default: "10" },
      name: { type: "string" },
      ...JSON_FLAG,
    },
    strict: true,
  });
  if (!/^\d{1,2}$/.test(values.iterations))
    throw new UsageError("--iterations N: N is the exponent (2^N hashes), 10..63");
  const result = await beaconCeremony({
    transcriptPath: transcriptIn(values.dir, values.in),
    inZkey: values.in,
    outZkey: values.out,
    beaconHash: required(values.hash, "--hash"),
    iterationsExp: Number(values.iterations),
    name: values.name,
    progress,
  });
  printPublish(values.json, "beacon", result);
  return 0;
}

/** The text of a replayed ceremony: its verdict, ptau, each contribution with its hash, the key. */
function verifyLines(report: Awaited<ReturnType<typeof verifyCeremony>>, final: boolean): string[] {
  const t = report.transcript;
  const lines = [
    `ceremony ${t.circuit.id}: OK${final ? "" : " so far (in progress: not final)"}`,
    `ptau ${t.ptau.file}: ${report.trustedPtau ? `published (${t.ptau.published})` : "NOT a published ceremony file"}`,
  ];
  for (const c of t.contributions) {
    const beaconNote = c.beacon ? ` (beacon ${c.beacon.hash}, 2^${c.beacon.iterationsExp} iterations)` : "";
    lines.push(`#${c.index} ${c.kind} "${c.name}"${beaconNote}`);
    lines.push(formatContributionHash(c.contributionHash).replace(/^/gm, "    "));
  }
  if (report.intermediatesMissing.length > 0)
    lines.push(`not present (not checked): ${report.intermediatesMissing.join(", ")}`);
  lines.push(
    `verification key ${report.vkeyHash}${report.manifestChecked ? " is the one pinned in the keys manifest" : ""}`,
  );
  return lines;
}

async function verify(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: "string", default: "." },
      ptau: { type: "string" },
      keys: { type: "string" },
      "no-keys": { type: "boolean", default: false },
      "in-progress": { type: "boolean", default: false },
      expect: { type: "string", multiple: true },
      ...JSON_FLAG,
    },
    strict: true,
  });
  const report = await verifyCeremony({
    transcriptPath: path.join(values.dir, TRANSCRIPT_FILE),
    ptauPath: required(values.ptau, "--ptau"),
    keysDir: values["no-keys"] ? undefined : (values.keys ?? KEYS_DIR),
    expect: values.expect,
    inProgress: values["in-progress"],
    progress,
  });
  const t = report.transcript;
  const final = !values["in-progress"];
  const result = {
    circuit: t.circuit.id,
    ok: true,
    final,
    ptau: { file: t.ptau.file, published: t.ptau.published, trusted: report.trustedPtau },
    contributions: t.contributions,
    intermediatesMissing: report.intermediatesMissing,
    vkeyHash: report.vkeyHash,
    manifestChecked: report.manifestChecked,
  };
  printResult(values.json, result, () => verifyLines(report, final));
  return 0;
}

async function finalize(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: "string", default: "." },
      ptau: { type: "string" },
      keys: { type: "string" },
      circuit: { type: "string" },
      replace: { type: "boolean", default: false },
      ...JSON_FLAG,
    },
    strict: true,
  });
  const transcriptPath = path.join(values.dir, TRANSCRIPT_FILE);
  const transcript = await readTranscript(transcriptPath);
  const main = await circuitMainPath(values.circuit ?? transcript.circuit.id);
  const compiled = await compileCircuit(main, { progress });
  const keysDir = values.keys ?? KEYS_DIR;
  const result = await finalizeCeremony({
    transcriptPath,
    ptauPath: required(values.ptau, "--ptau"),
    compiled,
    keysDir,
    replace: values.replace,
    progress,
  });
  const manifestPath = path.join(keysDir, "manifest.json");
  const summary = {
    circuit: compiled.id,
    vkeyHash: result.report.vkeyHash,
    vkey: result.vkeyPath,
    manifest: manifestPath,
    insecure: result.manifest.insecure,
  };
  printResult(values.json, summary, () => [
    `${compiled.id}: verification key ${result.report.vkeyHash} written to ${result.vkeyPath}`,
    `pinned in ${manifestPath} (insecure: ${result.manifest.insecure})`,
    "publish ceremony.json, the zkeys and the vkey; anyone can replay with 'zktally ceremony verify'.",
  ]);
  return 0;
}

const SUBCOMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  init,
  contribute,
  beacon,
  verify,
  finalize,
};

export const ceremonyCommand: Command = {
  name: "ceremony",
  usage: [
    "ceremony init --circuit ID --ptau FILE --out DIR [--allow-unknown-ptau]   start a multi-party phase 2",
    "ceremony contribute --dir DIR --name NAME [--in ZKEY] [--out ZKEY] [--entropy TEXT]   add a contribution",
    "ceremony beacon --dir DIR --hash HEX [--iterations N] [--name NAME]   close with a public beacon (2^N hashes)",
    "ceremony verify --dir DIR --ptau FILE [--keys DIR | --no-keys | --in-progress] [--expect HASH ...]   replay the ceremony",
    "ceremony finalize --dir DIR --ptau FILE [--keys DIR] [--circuit ID] [--replace]   verify, export and pin the key",
    "         every subcommand takes --json: its result as one JSON line instead of text",
  ],
  async run(args) {
    const [sub, ...rest] = args;
    const handler = sub === undefined ? undefined : SUBCOMMANDS[sub];
    if (!handler) throw new UsageError(`expected one of ${Object.keys(SUBCOMMANDS).join(", ")}`);
    try {
      return await handler(rest);
    } catch (err) {
      if (!(err instanceof CeremonyError || err instanceof UntrustedPtauError)) throw err;
      const check = err instanceof CeremonyError ? ` [${err.check}]` : "";
      process.stderr.write(`zktally ceremony ${sub}: FAILED${check}: ${err.message}\n`);
      return 1;
    }
  },
};
