/**
 * @module setup/ceremony/transcript
 *
 * The ceremony transcript `ceremony.json` (`zktally-ceremony/v1`): circuit {id, sourceHash, constraints,
 * nPublic, r1cs {file, sha256}}, `circuitHash` (snarkjs's BLAKE2b circuit hash), ptau {file, power, sha256,
 * blake2b512, trusted, published}, initial {file, sha256}, an ordered list of contributions {index, kind,
 * name, file, zkeySha256, contributionHash, beacon?} and, once finalized, final {file, zkeySha256,
 * vkeySha256}. Files are bare names in the transcript's directory. Also the published form of contribution
 * hashes (snarkjs's grouped lines) and the zkey file names of each step.
 *
 * Security caveats: the transcript is not signed; parsing only checks its shape (strict objects, consecutive
 * indexes, beacon parameters exactly on beacon entries). Its claims are checked against the zkeys by
 * `verify.ts`. Writes are atomic, and a transcript is re-parsed before it is written.
 */

import { z } from "zod";
import { hexSchema } from "../../core/formats.ts";
import { writeFileAtomic } from "../../storage/atomic-write.ts";
import { readJsonFile } from "../../storage/json-file.ts";
import { assertInputFile } from "../setup-common.ts";

export const CEREMONY_FORMAT = "zktally-ceremony/v1";
export const TRANSCRIPT_FILE = "ceremony.json";
export const DEFAULT_BEACON_NAME = "zktally final beacon";
/** snarkjs bounds for the beacon's 2^n SHA-256 iterations. */
export const BEACON_ITERATIONS_MIN = 10;
export const BEACON_ITERATIONS_MAX = 63;

const hex64 = hexSchema(32, "lowercase hex SHA-256");
const hex128 = z.string().regex(/^[0-9a-f]{128}$/, "lowercase hex BLAKE2b-512");
export const fileName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, "a bare file name");
/** Printable ASCII, at most 64 characters: snarkjs stores the name in the zkey and truncates at 64. */
export const contributorName = z.string().regex(/^[\x20-\x7e]{1,64}$/, "1..64 printable ASCII characters");
const count = z.number().int().nonnegative();

const entrySchema = z.strictObject({
  index: z.number().int().min(1),
  kind: z.enum(["contribution", "beacon"]),
  name: contributorName,
  file: fileName,
  zkeySha256: hex64,
  contributionHash: hex128,
  beacon: z
    .strictObject({
      hash: z.string().regex(/^([0-9a-f]{2}){1,255}$/, "1..255 bytes of lowercase hex"),
      iterationsExp: z.number().int().min(BEACON_ITERATIONS_MIN).max(BEACON_ITERATIONS_MAX),
    })
    .optional(),
});

const transcriptSchema = z.strictObject({
  format: z.literal(CEREMONY_FORMAT),
  circuit: z.strictObject({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/),
    sourceHash: hex64,
    constraints: count,
    nPublic: count,
    r1cs: z.strictObject({ file: fileName, sha256: hex64 }),
  }),
  circuitHash: hex128,
  ptau: z.strictObject({
    file: z.string().min(1).max(255),
    power: z.number().int().min(1).max(28),
    sha256: hex64,
    blake2b512: hex128,
    trusted: z.boolean(),
    published: z.string().nullable(),
  }),
  initial: z.strictObject({ file: fileName, sha256: hex64 }),
  contributions: z.array(entrySchema),
  final: z.strictObject({ file: fileName, zkeySha256: hex64, vkeySha256: hex64 }).optional(),
});

export type CeremonyEntry = z.infer<typeof entrySchema>;
export type CeremonyTranscript = z.infer<typeof transcriptSchema>;

/** Parses a transcript; throws `TypeError` naming the first offending field. */
export function parseTranscript(value: unknown, source = "ceremony transcript"): CeremonyTranscript {
  const result = transcriptSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue?.path.map(String).join(".") || "(root)";
    throw new TypeError(`${source}: invalid field ${field}: ${issue?.message ?? "invalid"}`);
  }
  result.data.contributions.forEach((entry, i) => {
    const where = `${source}: invalid field contributions.${i}`;
    if (entry.index !== i + 1) throw new TypeError(`${where}.index: expected ${i + 1}, got ${entry.index}`);
    if ((entry.kind === "beacon") !== (entry.beacon !== undefined)) {
      throw new TypeError(`${where}.beacon: required exactly for kind "beacon"`);
    }
  });
  return result.data;
}

export async function readTranscript(transcriptPath: string): Promise<CeremonyTranscript> {
  assertInputFile(
    transcriptPath,
    "ceremony transcript",
    "--dir must be the folder `zktally ceremony init --out` wrote",
  );
  return parseTranscript(await readJsonFile(transcriptPath), transcriptPath);
}

export async function writeTranscript(transcriptPath: string, transcript: CeremonyTranscript): Promise<void> {
  const valid = parseTranscript(transcript);
  await writeFileAtomic(transcriptPath, `${JSON.stringify(valid, null, 2)}\n`);
}

/** The hash as snarkjs prints it: 4 lines of 4 groups of 8 hex digits. */
export function formatContributionHash(hex: string): string {
  if (!/^[0-9a-f]{128}$/.test(hex)) throw new TypeError("contribution hash must be 128 lowercase hex digits");
  const groups = hex.match(/.{8}/g) as string[];
  return [0, 4, 8, 12].map((i) => groups.slice(i, i + 4).join(" ")).join("\n");
}

/** Accepts a hash as published (contiguous hex, or snarkjs's grouped lines); returns 128 lowercase hex. */
export function normalizeContributionHash(text: string): string {
  const hex = String(text).replace(/\s+/g, "").toLowerCase();
  if (!/^[0-9a-f]{128}$/.test(hex)) {
    throw new TypeError(
      `not a contribution hash (128 hex digits): ${JSON.stringify(String(text).slice(0, 40))}`,
    );
  }
  return hex;
}

/** File name of the zkey after `index` contributions (0: the initial key). */
export const zkeyFileName = (id: string, index: number) => `${id}_${String(index).padStart(4, "0")}.zkey`;

/** The zkey the transcript ends with: the last contribution's, else the initial one. */
export function latestZkey(t: CeremonyTranscript): { file: string; sha256: string } {
  const last = t.contributions.at(-1);
  return last ? { file: last.file, sha256: last.zkeySha256 } : t.initial;
}
