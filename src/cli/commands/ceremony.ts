/**
 * @module cli/commands/ceremony
 *
 * `zktally ceremony init | contribute | beacon | verify | finalize`: the multi-party phase 2 of
 * setup/ceremony/ with files passed around (docs/ceremony.md). Exit codes: 0 success, 1 a check failed
 * (refused ptau, broken chain, failed replay, manifest mismatch), 2 bad usage.
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
  out(`ceremony for ${compiled.id} started in ${path.dirname(step.transcriptPath)}`);
  out(`send ${path.basename(step.zkeyPath)} and ${TRANSCRIPT_FILE} to the first contributor`);
  return 0;
}

function printPublish(kind: string, index: number, hash: string): void {
  out(
    `${kind} #${index} done. Contribution hash (publish it; everyone can check it with 'ceremony verify'):`,
  );
  out(formatContributionHash(hash));
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
  printPublish("contribution", result.entry.index, result.entry.contributionHash);
  out(`pass ${path.basename(result.zkeyPath)} and ${TRANSCRIPT_FILE} on to the next party`);
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
  printPublish("beacon", result.entry.index, result.entry.contributionHash);
  return 0;
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
  out(`ceremony ${t.circuit.id}: OK${values["in-progress"] ? " so far (in progress: not final)" : ""}`);
  out(
    `ptau ${t.ptau.file}: ${report.trustedPtau ? `published (${t.ptau.published})` : "NOT a published ceremony file"}`,
  );
  for (const c of t.contributions) {
    const beaconNote = c.beacon ? ` (beacon ${c.beacon.hash}, 2^${c.beacon.iterationsExp} iterations)` : "";
    out(`#${c.index} ${c.kind} "${c.name}"${beaconNote}`);
    out(formatContributionHash(c.contributionHash).replace(/^/gm, "    "));
  }
  if (report.intermediatesMissing.length > 0)
    out(`not present (not checked): ${report.intermediatesMissing.join(", ")}`);
  out(
    `verification key ${report.vkeyHash}${report.manifestChecked ? " is the one pinned in the keys manifest" : ""}`,
  );
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
  out(`${compiled.id}: verification key ${result.report.vkeyHash} written to ${result.vkeyPath}`);
  out(`pinned in ${path.join(keysDir, "manifest.json")} (insecure: ${result.manifest.insecure})`);
  out("publish ceremony.json, the zkeys and the vkey; anyone can replay with 'zktally ceremony verify'.");
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
