/**
 * @module setup/fast/r1cs
 *
 * Reads the parts of a circom `.r1cs` file (iden3 binary container, type "r1cs") that Groth16 key
 * generation needs: the header (field prime, wire and signal counts, constraint count) and the raw
 * constraint section, plus a streaming walker over its linear combinations
 * (per constraint: A, B, C as u32 term count, then (u32 wire, 32-byte LE coefficient) terms).
 *
 * Security caveat: the file is trusted to be the circuit the caller means; a malformed file raises a
 * `SetupError` rather than being repaired.
 */

import { open } from "node:fs/promises";
import { readBinFile, readSection } from "@iden3/binfileutils";
import { FIELD_ORDER } from "../../core/field.ts";
import { SetupError } from "./curve.ts";

export interface R1csHeader {
  readonly n8: number;
  readonly prime: bigint;
  readonly nVars: number;
  readonly nOutputs: number;
  readonly nPubInputs: number;
  readonly nPrvInputs: number;
  readonly nLabels: number;
  readonly nConstraints: number;
}

export interface R1cs {
  readonly header: R1csHeader;
  /** Raw body of section 2 (constraints). */
  readonly constraints: Uint8Array;
}

/**
 * Throws SetupError unless the file starts with the 4-byte iden3 container magic (checked before
 * binfileutils opens it, which leaks its handle when the magic is wrong).
 */
export async function assertBinMagic(filePath: string, magic: "r1cs" | "ptau" | "zkey"): Promise<void> {
  const handle = await open(filePath, "r");
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    if (bytesRead !== 4 || head.toString("latin1") !== magic) {
      throw new SetupError(`${filePath}: not a ${magic} file`);
    }
  } finally {
    await handle.close();
  }
}

/** Reads header and constraints; throws SetupError on a malformed or non-BN254 file. */
export async function readR1cs(r1csPath: string): Promise<R1cs> {
  await assertBinMagic(r1csPath, "r1cs");
  const { fd, sections } = await readBinFile(r1csPath, "r1cs", 1, 1 << 22, 1 << 24);
  try {
    if (sections[1]?.length !== 1 || sections[2]?.length !== 1) {
      throw new SetupError(`${r1csPath}: r1cs needs exactly one header and one constraints section`);
    }
    const headerBytes = await readSection(fd, sections, 1);
    const header = parseHeader(headerBytes, r1csPath);
    const constraints = await readSection(fd, sections, 2);
    return { header, constraints };
  } finally {
    await fd.close();
  }
}

function parseHeader(bytes: Uint8Array, file: string): R1csHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n8 = view.getUint32(0, true);
  if (n8 !== 32 || bytes.byteLength !== 4 + n8 + 28) throw new SetupError(`${file}: unexpected r1cs header`);
  let prime = 0n;
  for (let i = n8 - 1; i >= 0; i--) prime = (prime << 8n) | BigInt(bytes[4 + i] as number);
  if (prime !== FIELD_ORDER) throw new SetupError(`${file}: r1cs prime is not the BN254 scalar field`);
  const at = 4 + n8;
  return {
    n8,
    prime,
    nVars: view.getUint32(at, true),
    nOutputs: view.getUint32(at + 4, true),
    nPubInputs: view.getUint32(at + 8, true),
    nPrvInputs: view.getUint32(at + 12, true),
    nLabels: Number(view.getBigUint64(at + 16, true)),
    nConstraints: view.getUint32(at + 24, true),
  };
}

/** One term of a linear combination: matrix (0 A, 1 B, 2 C), constraint index, wire, coefficient offset. */
export type TermVisitor = (matrix: 0 | 1 | 2, constraint: number, wire: number, coefOffset: number) => void;

/**
 * Walks every term in file order (constraint by constraint, A then B then C). The coefficient is the
 * 32-byte LE word at `coefOffset` in `r1cs.constraints`. Checks wire indices and that the section is exact.
 */
export function forEachTerm(r1cs: R1cs, visit: TermVisitor): void {
  const bytes = r1cs.constraints;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { nConstraints, nVars } = r1cs.header;
  let at = 0;
  for (let c = 0; c < nConstraints; c++) {
    for (const matrix of [0, 1, 2] as const) {
      if (at + 4 > bytes.byteLength) throw new SetupError("r1cs constraints section is truncated");
      const terms = view.getUint32(at, true);
      at += 4;
      if (at + terms * 36 > bytes.byteLength) throw new SetupError("r1cs constraints section is truncated");
      for (let t = 0; t < terms; t++) {
        const wire = view.getUint32(at, true);
        if (wire >= nVars) throw new SetupError(`r1cs constraint ${c} uses wire ${wire} >= nVars ${nVars}`);
        visit(matrix, c, wire, at + 4);
        at += 36;
      }
    }
  }
  if (at !== bytes.byteLength) throw new SetupError("r1cs constraints section has trailing bytes");
}

/** The coefficient at `offset` as a bigint (reduced mod r). */
export function readCoefficient(bytes: Uint8Array, offset: number): bigint {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, 32);
  const v =
    view.getBigUint64(0, true) |
    (view.getBigUint64(8, true) << 64n) |
    (view.getBigUint64(16, true) << 128n) |
    (view.getBigUint64(24, true) << 192n);
  return v % FIELD_ORDER;
}
