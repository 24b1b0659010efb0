/**
 * @module setup/ceremony/zkey-contributions
 *
 * Reads the MPC section (section 10) of a zkey: snarkjs's circuit hash and the list of phase-2 contributions,
 * and compares that chain with transcript entries. Contribution hashes are recomputed from the zkey itself
 * (BLAKE2b-512 of the contribution's public key and transcript, exactly what snarkjs prints as "Contribution
 * Hash" and what `zkey verify` lists), so a transcript cannot claim a contribution the zkey does not contain.
 *
 * Security caveats: this reads the recorded chain only; whether the key was really derived through it is
 * what snarkjs `verifyFromR1cs` checks (`verify.ts`). The reader is bounds-checked (at most 16 MiB of
 * section, no trailing bytes, sorted parameters) and refuses anything but a Groth16 zkey.
 */

import { createHash } from "node:crypto";
import * as snarkjs from "snarkjs";
import { readBinSection } from "../binary-reader.ts";
import { assertInputFile } from "../setup-common.ts";
import { CeremonyError } from "./errors.ts";
import type { CeremonyEntry } from "./transcript.ts";

/** One phase-2 contribution as recorded in a zkey (section 10). */
export interface ZkeyContribution {
  readonly index: number;
  readonly kind: "contribution" | "beacon";
  readonly name: string | undefined;
  /** BLAKE2b-512 of the contribution's public key and transcript: snarkjs's "Contribution Hash". */
  readonly contributionHash: string;
  readonly beacon?: { readonly hash: string; readonly iterationsExp: number };
}

export interface ZkeyContributions {
  /** snarkjs's circuit hash (BLAKE2b-512 over the initial key), the same for every zkey of one circuit + ptau. */
  readonly circuitHash: string;
  readonly contributions: readonly ZkeyContribution[];
}

interface CurveGroup {
  toRprUncompressed(out: Uint8Array, offset: number, point: Uint8Array): void;
}

/** The BN254 curve object of ffjavascript (shared with snarkjs; `terminateCurveWorkers` stops it). */
async function bn128(): Promise<{ G1: CurveGroup; G2: CurveGroup }> {
  return (await snarkjs.curves.getCurveFromName("bn128")) as unknown as { G1: CurveGroup; G2: CurveGroup };
}

const G1_BYTES = 64;
const G2_BYTES = 128;
const GROTH16_PROTOCOL_ID = 1;
const MPC_SECTION = 10;

/** A bounds-checked cursor over a section body. */
function sectionReader(buf: Buffer, zkeyPath: string) {
  let offset = 0;
  const take = (length: number): Buffer => {
    if (offset + length > buf.length) {
      throw new CeremonyError("zkey-format", `${zkeyPath}: truncated contributions section`);
    }
    const slice = buf.subarray(offset, offset + length);
    offset += length;
    return slice;
  };
  return { take, u32: () => take(4).readUInt32LE(0), done: () => offset === buf.length };
}

/**
 * Reads the contributions recorded in a zkey's MPC section and recomputes each contribution hash the way
 * snarkjs does (`hashPubKey`: deltaAfter, g1_s, g1_sx in G1 and g2_spx in G2, uncompressed, then the
 * 64-byte transcript), without loading the rest of the key.
 */
export async function readZkeyContributions(zkeyPath: string): Promise<ZkeyContributions> {
  assertInputFile(zkeyPath, "zkey");
  const header = await readBinSection(zkeyPath, "zkey", 1, 16);
  if (header.length < 4 || header.readUInt32LE(0) !== GROTH16_PROTOCOL_ID) {
    throw new CeremonyError("zkey-format", `${zkeyPath}: not a Groth16 zkey`);
  }
  const section = await readBinSection(zkeyPath, "zkey", MPC_SECTION, 1 << 24);
  const reader = sectionReader(section, zkeyPath);
  const curve = await bn128();
  const uncompressed = (group: CurveGroup, bytes: Buffer, size: number): Uint8Array => {
    const out = new Uint8Array(size);
    group.toRprUncompressed(out, 0, new Uint8Array(bytes));
    return out;
  };
  const circuitHash = reader.take(64).toString("hex");
  const n = reader.u32();
  const contributions: ZkeyContribution[] = [];
  for (let i = 0; i < n; i++) {
    const hasher = createHash("blake2b512");
    for (let g = 0; g < 3; g++) hasher.update(uncompressed(curve.G1, reader.take(G1_BYTES), G1_BYTES));
    hasher.update(uncompressed(curve.G2, reader.take(G2_BYTES), G2_BYTES));
    hasher.update(reader.take(64));
    const type = reader.u32();
    const params = parseContributionParams(reader.take(reader.u32()), zkeyPath, i);
    if (type !== 0 && type !== 1)
      throw new CeremonyError("zkey-format", `${zkeyPath}: contribution ${i + 1} has type ${type}`);
    const kind = type === 1 ? "beacon" : "contribution";
    if (kind === "beacon" && !params.beacon) {
      throw new CeremonyError("zkey-format", `${zkeyPath}: beacon ${i + 1} lacks its hash or iterations`);
    }
    contributions.push({
      index: i + 1,
      kind,
      name: params.name,
      contributionHash: hasher.digest("hex"),
      ...(kind === "beacon" ? { beacon: params.beacon } : {}),
    });
  }
  if (!reader.done())
    throw new CeremonyError("zkey-format", `${zkeyPath}: trailing bytes in contributions section`);
  return { circuitHash, contributions };
}

/** Contribution parameters: sorted (type, value) records: 1 name, 2 iterations exponent, 3 beacon hash. */
function parseContributionParams(
  buf: Buffer,
  zkeyPath: string,
  i: number,
): { name?: string; beacon?: { hash: string; iterationsExp: number } } {
  const reader = sectionReader(buf, zkeyPath);
  let last = 0;
  let name: string | undefined;
  let iterationsExp: number | undefined;
  let hash: string | undefined;
  while (!reader.done()) {
    const type = reader.take(1)[0] as number;
    if (type <= last)
      throw new CeremonyError("zkey-format", `${zkeyPath}: contribution ${i + 1} parameters unsorted`);
    last = type;
    if (type === 1) name = reader.take(reader.take(1)[0] as number).toString("utf8");
    else if (type === 2) iterationsExp = reader.take(1)[0] as number;
    else if (type === 3) hash = reader.take(reader.take(1)[0] as number).toString("hex");
    else throw new CeremonyError("zkey-format", `${zkeyPath}: contribution ${i + 1} has parameter ${type}`);
  }
  return {
    ...(name !== undefined ? { name } : {}),
    ...(hash !== undefined && iterationsExp !== undefined ? { beacon: { hash, iterationsExp } } : {}),
  };
}

/** Compares the contributions in a zkey with transcript entries, in order. */
export function assertChain(
  read: ZkeyContributions,
  circuitHash: string,
  entries: readonly Pick<CeremonyEntry, "index" | "kind" | "name" | "contributionHash" | "beacon">[],
  zkeyPath: string,
): void {
  if (read.circuitHash !== circuitHash) {
    throw new CeremonyError(
      "circuit-hash",
      `${zkeyPath} belongs to another circuit or ptau (circuit hash ${read.circuitHash.slice(0, 16)}…, transcript ${circuitHash.slice(0, 16)}…)`,
    );
  }
  if (read.contributions.length !== entries.length) {
    throw new CeremonyError(
      "contribution-count",
      `${zkeyPath} holds ${read.contributions.length} contributions, the transcript lists ${entries.length}`,
    );
  }
  entries.forEach((entry, i) => {
    const actual = read.contributions[i] as ZkeyContribution;
    const where = `contribution #${i + 1} (${entry.name})`;
    if (actual.contributionHash !== entry.contributionHash) {
      throw new CeremonyError(
        "contribution-hash",
        `${where}: the zkey's hash ${actual.contributionHash} differs from the transcript's ${entry.contributionHash}`,
      );
    }
    if (actual.kind !== entry.kind || actual.name !== entry.name) {
      throw new CeremonyError(
        "contribution-meta",
        `${where}: the zkey records ${actual.kind} "${actual.name ?? ""}"`,
      );
    }
    if (
      entry.beacon &&
      (actual.beacon?.hash !== entry.beacon.hash ||
        actual.beacon?.iterationsExp !== entry.beacon.iterationsExp)
    ) {
      throw new CeremonyError(
        "beacon",
        `${where}: the zkey's beacon parameters differ from the transcript's`,
      );
    }
  });
}
