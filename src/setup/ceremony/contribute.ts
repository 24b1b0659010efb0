/**
 * @module setup/ceremony/contribute
 *
 * Contributors, in turn: `contributeCeremony` (snarkjs `zKey.contribute`, with 64 extra random bytes mixed
 * into the caller's entropy) and `beaconCeremony` (snarkjs `zKey.beacon`, the public random beacon that closes
 * the ceremony). Each step checks it extends the latest zkey of the transcript, re-reads the chain from the
 * new zkey and appends its entry to the transcript.
 *
 * Security caveats: the contributor's entropy lives in this process only; soundness needs one contributor who
 * does not keep it. A beacon alone adds no secret, so it is refused before the first contribution, and
 * nothing may follow it. The new zkey is written to a temp file and renamed only after its chain checks.
 */

import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import path from "node:path";
import * as snarkjs from "snarkjs";
import { sha256File } from "../../storage/file-digest.ts";
import { type Progress, silentProgress } from "../../util/progress.ts";
import { SetupError, snarkjsLogger } from "../ptau.ts";
import { CeremonyError } from "./errors.ts";
import type { CeremonyStep } from "./init.ts";
import {
  BEACON_ITERATIONS_MAX,
  BEACON_ITERATIONS_MIN,
  type CeremonyEntry,
  type CeremonyTranscript,
  contributorName,
  DEFAULT_BEACON_NAME,
  fileName,
  latestZkey,
  readTranscript,
  TRANSCRIPT_FILE,
  writeTranscript,
  zkeyFileName,
} from "./transcript.ts";
import { assertChain, readZkeyContributions, type ZkeyContribution } from "./zkey-contributions.ts";

interface StepFiles {
  /** Transcript path; default `<dir of inZkey>/ceremony.json`, else `./ceremony.json`. */
  readonly transcriptPath?: string;
  /** The latest zkey of the ceremony; default the one the transcript names. */
  readonly inZkey?: string;
  /** Where to write the new zkey (inside the transcript's directory); default `<id>_<NNNN>.zkey`. */
  readonly outZkey?: string;
  readonly progress?: Progress;
}

export interface ContributeOptions extends StepFiles {
  readonly name: string;
  /** Extra entropy (snarkjs mixes in 64 random bytes itself; 64 more are appended here). */
  readonly entropy?: string;
}

export interface BeaconOptions extends StepFiles {
  /** The public beacon value, hex (e.g. a future block hash announced in advance). */
  readonly beaconHash: string;
  /** 2^iterationsExp SHA-256 iterations (10..63). */
  readonly iterationsExp: number;
  readonly name?: string;
}

export interface ContributionResult extends CeremonyStep {
  readonly entry: CeremonyEntry;
}

function transcriptPathFor(files: StepFiles): string {
  if (files.transcriptPath) return files.transcriptPath;
  return path.join(files.inZkey ? path.dirname(files.inZkey) : ".", TRANSCRIPT_FILE);
}

/** Resolves and checks the in/out files of a contribution or beacon step. */
async function prepareStep(files: StepFiles, kind: CeremonyEntry["kind"]) {
  const transcriptPath = transcriptPathFor(files);
  const transcript = await readTranscript(transcriptPath);
  const dir = path.dirname(transcriptPath);
  if (transcript.final) throw new CeremonyError("closed", "the ceremony is finalized: no more contributions");
  if (transcript.contributions.some((c) => c.kind === "beacon")) {
    throw new CeremonyError("closed", "the ceremony already has its beacon: no more contributions");
  }
  if (kind === "beacon" && !transcript.contributions.some((c) => c.kind === "contribution")) {
    throw new CeremonyError(
      "no-contribution",
      "a beacon alone is public: at least one contribution must come first",
    );
  }
  const latest = latestZkey(transcript);
  const inZkey = files.inZkey ?? path.join(dir, latest.file);
  const inSha = await sha256File(inZkey);
  if (inSha !== latest.sha256) {
    throw new CeremonyError(
      "not-latest",
      `${inZkey} (sha256 ${inSha}) is not the latest zkey of this ceremony (${latest.file}, sha256 ${latest.sha256})`,
    );
  }
  const index = transcript.contributions.length + 1;
  const outZkey = files.outZkey ?? path.join(dir, zkeyFileName(transcript.circuit.id, index));
  if (path.resolve(path.dirname(outZkey)) !== path.resolve(dir)) {
    throw new SetupError(`--out ${outZkey} must be in the transcript's directory ${dir}`);
  }
  fileName.parse(path.basename(outZkey));
  if (existsSync(outZkey))
    throw new CeremonyError("exists", `${outZkey} already exists: refusing to overwrite it`);
  return { transcriptPath, transcript, inZkey, outZkey, index };
}

/**
 * What a contributor's name must be. These argument checks throw `SetupError` (exit 2 at the command line,
 * the flag named): they are a person's typing, not a programming error.
 */
const NAME_RULE = "--name must be 1..64 printable ASCII characters";

/** Adds one contribution (snarkjs `zKey.contribute`) and records its hash in the transcript. */
export async function contributeCeremony(opts: ContributeOptions): Promise<ContributionResult> {
  const name = contributorName.safeParse(opts.name);
  if (!name.success) throw new SetupError(NAME_RULE);
  const step = await prepareStep(opts, "contribution");
  const entropy = `${opts.entropy ?? ""}${randomBytes(64).toString("hex")}`;
  return writeStep(step, { kind: "contribution", name: name.data }, opts.progress, (tmp, logger) =>
    snarkjs.zKey.contribute(step.inZkey, tmp, name.data, entropy, logger),
  );
}

/** Applies the final public beacon (snarkjs `zKey.beacon`) and records it. */
export async function beaconCeremony(opts: BeaconOptions): Promise<ContributionResult> {
  const hash = String(opts.beaconHash ?? "").toLowerCase();
  if (!/^([0-9a-f]{2}){1,255}$/.test(hash)) throw new SetupError("--hash must be 1..255 bytes of hex");
  const exp = opts.iterationsExp;
  if (!Number.isInteger(exp) || exp < BEACON_ITERATIONS_MIN || exp > BEACON_ITERATIONS_MAX) {
    throw new SetupError(
      `--iterations must be an integer in ${BEACON_ITERATIONS_MIN}..${BEACON_ITERATIONS_MAX} (2^N hashes)`,
    );
  }
  const name = contributorName.safeParse(opts.name ?? DEFAULT_BEACON_NAME);
  if (!name.success) throw new SetupError(NAME_RULE);
  const step = await prepareStep(opts, "beacon");
  const beacon = { hash, iterationsExp: exp };
  return writeStep(step, { kind: "beacon", name: name.data, beacon }, opts.progress, (tmp, logger) =>
    snarkjs.zKey.beacon(step.inZkey, tmp, name.data, hash, exp, logger),
  );
}

type Step = Awaited<ReturnType<typeof prepareStep>>;

async function writeStep(
  step: Step,
  what: Pick<CeremonyEntry, "kind" | "name" | "beacon">,
  progress: Progress = silentProgress,
  run: (tmp: string, logger: snarkjs.SnarkjsLogger) => Promise<Uint8Array | false>,
): Promise<ContributionResult> {
  const tmp = `${step.outZkey}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    const { logger, failure } = snarkjsLogger((m) => progress("ceremony", `  snarkjs: ${m}`));
    const returned = await run(tmp, logger);
    if (returned === false || failure())
      throw new CeremonyError("snarkjs", `${what.kind} failed: ${failure() ?? "false"}`);
    const contributionHash = Buffer.from(returned).toString("hex");
    await assertExtendsChain(tmp, step.transcript, { ...what, contributionHash });
    await rename(tmp, step.outZkey);
  } finally {
    await rm(tmp, { force: true });
  }
  const written = await readZkeyContributions(step.outZkey);
  const entry: CeremonyEntry = {
    index: step.index,
    kind: what.kind,
    name: what.name,
    file: path.basename(step.outZkey),
    zkeySha256: await sha256File(step.outZkey),
    contributionHash: (written.contributions.at(-1) as ZkeyContribution).contributionHash,
    ...(what.beacon ? { beacon: what.beacon } : {}),
  };
  const transcript = { ...step.transcript, contributions: [...step.transcript.contributions, entry] };
  await writeTranscript(step.transcriptPath, transcript);
  progress("ceremony", `${what.kind} #${entry.index} (${entry.name}) written to ${step.outZkey}`);
  return { transcript, transcriptPath: step.transcriptPath, zkeyPath: step.outZkey, entry };
}

/** The new zkey must hold the transcript's chain plus exactly the contribution snarkjs just reported. */
async function assertExtendsChain(
  zkeyPath: string,
  transcript: CeremonyTranscript,
  added: Pick<CeremonyEntry, "kind" | "name" | "contributionHash">,
): Promise<void> {
  const read = await readZkeyContributions(zkeyPath);
  const expected = [...transcript.contributions, { ...added, index: transcript.contributions.length + 1 }];
  assertChain(read, transcript.circuitHash, expected, zkeyPath);
}
