/**
 * @module dataset/chunk-layout
 *
 * The chunked commitment layout v2 of docs/design.md section 7: layout parameters (chunk size S, records per
 * leaf B, dataset-tree depth K), field domains taken from the signed schema, the per-leaf packing, the v2
 * domain tags, and the hashing of leaves, chunk roots and the fixed-depth 16-ary dataset tree with each
 * chunk's Merkle path, which the chunk circuits recompute (browser-safe: no salts here; the salted in-memory
 * reference commitment is `chunk-commit.ts`). Every hash goes through a `PoseidonEx`
 * argument, so a faster implementation plugs in unchanged. TypeScript twin of `circuits/lib/chunk-commitment.circom`.
 *
 * Security caveats: packing is injective only for values inside their domains, which `packLeaf` enforces
 * and the circuit range-checks. Leaves hide their records only while the per-leaf salts stay secret.
 * Keyed datasets must be committed in strictly increasing key order (the chunk circuit refuses anything else).
 */
import type { PoseidonEx } from "./commitment.ts";
import { DATE_BITS } from "./date.ts";
import type { FieldSpec, Schema } from "./schema.ts";

/** Capacity tags (int(utf8("zktally/<what>/v2"))), design.md 7.2. */
export const TAG_LEAF2 = 635639655186813546321495903129531954n;
export const TAG_NODE2 = 635639655186813546322069861067355698n;
export const TAG_CHUNK2 = 162723751727824267857655299305343252018n;
export const TAG_DATASET2 = 10664263793234691218323890858841588294972978n;
export const TAG_ACC2 = 2482967403073490415306240183727666n;

/** Packed leaf elements hold at most 253 bits (2^253 < r, so every element is canonical). */
export const LEAF_ELEMENT_BITS = 253;
/** Arity of the in-chunk tree and of the dataset tree. */
export const TREE_ARITY = 16;
export const MAX_CHUNK_SIZE = 2 ** 16;
export const MAX_TREE_DEPTH = 8;
export const DEFAULT_TREE_DEPTH = 4;
/** Default chunk size S, chosen by measurement (`npm run bench:chunk-size`, design.md 7.8). */
export const DEFAULT_CHUNK_SIZE = 128;
/** circomlib's PoseidonEx takes at most 16 inputs: the salt and at most 15 packed elements. */
const MAX_LEAF_ELEMENTS = 15;

export interface ChunkLayout {
  readonly version: 2;
  /** S: records per chunk (a power of two). */
  readonly chunkSize: number;
  /** B: records per leaf (a power of two dividing S). */
  readonly leafRecords: number;
  /** K: depth of the 16-ary dataset tree over chunk roots. */
  readonly treeDepth: number;
}

/** The domain of one field: values 0..max, packed in `bits` bits; `token` names it in circuit ids. */
export interface FieldDomain {
  readonly max: bigint;
  readonly bits: number;
  /** `u{bits}` | `e{count}` | `b` | `z` (an always-zero padding field). */
  readonly token: string;
}

/**
 * Domain of a schema field (design.md 7.1): uint b -> max 2^b - 1, enum of n -> n - 1, bool -> 1, date -> as uint16. A value is
 * packed in bitLength(max) bits (an enum of one value takes none: it is always 0).
 */
export function fieldDomain(spec: FieldSpec): FieldDomain {
  switch (spec.type) {
    case "uint":
    case "string-key": // a hashed key is a uint to the circuits
      return domainOf((1n << BigInt(spec.bits)) - 1n, `u${spec.bits}`);
    case "enum":
      return domainOf(BigInt(spec.values.length - 1), `e${spec.values.length}`);
    case "bool":
      return domainOf(1n, "b");
    case "date":
      // A date is a DATE_BITS-bit uint to the circuits: same domain, same token, same circuits and keys.
      return domainOf((1n << BigInt(DATE_BITS)) - 1n, `u${DATE_BITS}`);
  }
}

function domainOf(max: bigint, token: string): FieldDomain {
  return { max, bits: max === 0n ? 0 : max.toString(2).length, token };
}

/** The always-zero domain of a padding field. */
export const ZERO_DOMAIN: FieldDomain = Object.freeze({ max: 0n, bits: 0, token: "z" });

/** Domains of the schema's fields in schema order (the circuit field order). */
export function fieldDomains(schema: Schema): FieldDomain[] {
  return schema.fields.map(fieldDomain);
}

/** Parses a domain token (`u16`, `e6`, `b`, `z`); throws RangeError for anything else. */
export function domainFromToken(token: string): FieldDomain {
  if (token === "b") return domainOf(1n, token);
  if (token === "z") return ZERO_DOMAIN;
  const match = /^([ue])([1-9][0-9]*)$/.exec(token);
  const n = Number(match?.[2]);
  if (match?.[1] === "u" && n <= 64) return domainOf((1n << BigInt(n)) - 1n, token);
  if (match?.[1] === "e" && n <= 2 ** 16) return domainOf(BigInt(n - 1), token);
  throw new RangeError(`not a field domain token: ${JSON.stringify(token)} (u1..u64, e1..e65536, b, z)`);
}

/** Number of packed elements E of a leaf of `leafRecords` records (greedy, values never split). */
export function leafElementCount(domains: readonly FieldDomain[], leafRecords: number): number {
  let elements = 1;
  let used = 0;
  for (let b = 0; b < leafRecords; b++) {
    for (const { bits } of domains) {
      if (bits === 0) continue;
      if (used + bits > LEAF_ELEMENT_BITS) {
        elements++;
        used = 0;
      }
      used += bits;
    }
  }
  return elements;
}

/** The largest power of two B <= S with 1 + E(B) <= 16 (design.md 7.1). */
export function defaultLeafRecords(domains: readonly FieldDomain[], chunkSize: number): number {
  let best = 0;
  for (let b = 1; b <= chunkSize; b *= 2) {
    if (leafElementCount(domains, b) <= MAX_LEAF_ELEMENTS) best = b;
  }
  if (best === 0) throw new RangeError("a record does not fit one leaf (more than 15 x 253 bits)");
  return best;
}

/** Validates a layout against the schema's domains; returns a frozen copy. */
export function makeChunkLayout(
  input: Omit<ChunkLayout, "version"> & { version?: 2 },
  domains: readonly FieldDomain[],
): ChunkLayout {
  if (typeof input !== "object" || input === null) throw new TypeError("chunk layout must be an object");
  if (input.version !== undefined && input.version !== 2) {
    throw new RangeError(`chunk layout version must be 2 (got ${String(input.version)})`);
  }
  const { chunkSize, leafRecords, treeDepth } = input;
  assertPowerOfTwo("chunkSize", chunkSize, MAX_CHUNK_SIZE);
  assertPowerOfTwo("leafRecords", leafRecords, chunkSize);
  if (!Number.isSafeInteger(treeDepth) || treeDepth < 1 || treeDepth > MAX_TREE_DEPTH) {
    throw new RangeError(`layout.treeDepth must be an integer in 1..${MAX_TREE_DEPTH} (got ${treeDepth})`);
  }
  if (chunkSize * TREE_ARITY ** treeDepth > 2 ** 32) {
    throw new RangeError(`chunkSize x 16^treeDepth = ${chunkSize} x 16^${treeDepth} exceeds 2^32 records`);
  }
  const elements = leafElementCount(domains, leafRecords);
  if (elements > MAX_LEAF_ELEMENTS) {
    throw new RangeError(
      `leafRecords ${leafRecords} packs into ${elements} elements; a leaf holds at most ${MAX_LEAF_ELEMENTS} (use a smaller leafRecords)`,
    );
  }
  return Object.freeze({ version: 2, chunkSize, leafRecords, treeDepth });
}

/** chunkCount = max(1, ceil(recordCount / S)); throws when the dataset tree cannot hold the records. */
export function chunkCountOf(layout: ChunkLayout, recordCount: number): number {
  if (!Number.isSafeInteger(recordCount) || recordCount < 0) {
    throw new RangeError(`recordCount must be a non-negative integer (got ${recordCount})`);
  }
  const chunks = Math.max(1, Math.ceil(recordCount / layout.chunkSize));
  if (chunks > TREE_ARITY ** layout.treeDepth) {
    throw new RangeError(
      `${recordCount} records need ${chunks} chunks; treeDepth ${layout.treeDepth} holds ${TREE_ARITY ** layout.treeDepth}`,
    );
  }
  return chunks;
}

/** Checks a record (encoded values in schema order) against the domains; `where` names it in errors. */
export function assertInDomains(
  domains: readonly FieldDomain[],
  record: readonly bigint[],
  where: string,
): void {
  if (record.length !== domains.length) {
    throw new RangeError(`${where} has ${record.length} values, expected ${domains.length}`);
  }
  domains.forEach((domain, field) => {
    const value = record[field];
    if (typeof value !== "bigint" || value < 0n || value > domain.max) {
      throw new RangeError(`${where} field ${field}: ${String(value)} is outside 0..${domain.max}`);
    }
  });
}

/** Packs B records (each in its domains) into the E leaf elements of design.md 7.2. */
export function packLeaf(domains: readonly FieldDomain[], records: readonly (readonly bigint[])[]): bigint[] {
  const elements: bigint[] = [0n];
  let used = 0;
  records.forEach((record, b) => {
    assertInDomains(domains, record, `leaf record ${b}`);
    domains.forEach(({ bits }, field) => {
      if (bits === 0) return;
      if (used + bits > LEAF_ELEMENT_BITS) {
        elements.push(0n);
        used = 0;
      }
      elements[elements.length - 1] =
        (elements.at(-1) as bigint) | ((record[field] as bigint) << BigInt(used));
      used += bits;
    });
  });
  return elements;
}

/** Hash of one leaf: PoseidonEx([salt, e_0..e_{E-1}], TAG_LEAF2). */
export function leafHash(
  poseidon: PoseidonEx,
  domains: readonly FieldDomain[],
  salt: bigint,
  records: readonly (readonly bigint[])[],
): bigint {
  return poseidon([salt, ...packLeaf(domains, records)], TAG_LEAF2);
}

/** Root of the ragged 16-ary tree over the leaves of one chunk (the leaf itself when there is one). */
export function subtreeRoot(poseidon: PoseidonEx, leaves: readonly bigint[]): bigint {
  if (leaves.length === 0) throw new RangeError("a chunk has at least one leaf");
  let level = [...leaves];
  while (level.length > 1) {
    const next: bigint[] = [];
    for (let i = 0; i < level.length; i += TREE_ARITY)
      next.push(poseidon(level.slice(i, i + TREE_ARITY), TAG_NODE2));
    level = next;
  }
  return level[0] as bigint;
}

/** chunkRoot = PoseidonEx([chunkIndex, subtreeRoot], TAG_CHUNK2). */
export function chunkRootOf(poseidon: PoseidonEx, chunkIndex: number, subtree: bigint): bigint {
  return poseidon([BigInt(chunkIndex), subtree], TAG_CHUNK2);
}

/** One chunk's S slots (padding already applied: all-zero values) and its B-record leaves' salts. */
export interface ChunkSlots {
  readonly chunkIndex: number;
  /** S records, encoded values in schema order; padding slots are all 0. */
  readonly values: readonly (readonly bigint[])[];
  /** S/B leaf salts. */
  readonly salts: readonly bigint[];
}

/** The chunk root of a chunk's slots. */
export function commitChunk(
  poseidon: PoseidonEx,
  layout: ChunkLayout,
  domains: readonly FieldDomain[],
  chunk: ChunkSlots,
): bigint {
  const { chunkSize, leafRecords } = layout;
  if (chunk.values.length !== chunkSize)
    throw new RangeError(`a chunk has ${chunkSize} slots (got ${chunk.values.length})`);
  if (chunk.salts.length !== chunkSize / leafRecords) {
    throw new RangeError(`a chunk has ${chunkSize / leafRecords} leaf salts (got ${chunk.salts.length})`);
  }
  const leaves = chunk.salts.map((salt, j) =>
    leafHash(poseidon, domains, salt, chunk.values.slice(j * leafRecords, (j + 1) * leafRecords)),
  );
  return chunkRootOf(poseidon, chunk.chunkIndex, subtreeRoot(poseidon, leaves));
}

/** Z_0 = 0, Z_{l+1} = PoseidonEx([Z_l x 16], TAG_DATASET2): the roots of all-empty subtrees of height l. */
export function emptySubtreeRoots(poseidon: PoseidonEx, depth: number): bigint[] {
  const roots = [0n];
  for (let l = 0; l < depth; l++)
    roots.push(poseidon(new Array(TREE_ARITY).fill(roots[l] as bigint), TAG_DATASET2));
  return roots;
}

/** The dataset tree over chunk roots: its root and, per chunk, the 16 children of each level (bottom first). */
export interface DatasetTree {
  readonly root: bigint;
  /** path(c)[l] = the 16 children of the level-l node above chunk c (c's own entry included). */
  path(chunkIndex: number): bigint[][];
}

/** Builds the fixed-depth 16-ary dataset tree of design.md 7.2 (only nodes above real chunks are hashed). */
export function datasetTree(poseidon: PoseidonEx, chunkRoots: readonly bigint[], depth: number): DatasetTree {
  if (chunkRoots.length < 1 || chunkRoots.length > TREE_ARITY ** depth) {
    throw new RangeError(
      `${chunkRoots.length} chunk roots do not fit a tree of depth ${depth} (1..16^${depth})`,
    );
  }
  const empty = emptySubtreeRoots(poseidon, depth);
  const levels: bigint[][] = [[...chunkRoots]];
  for (let l = 0; l < depth; l++) {
    const below = levels[l] as bigint[];
    const above: bigint[] = [];
    for (let i = 0; i < below.length; i += TREE_ARITY)
      above.push(poseidon(childrenAt(below, i, empty[l] as bigint), TAG_DATASET2));
    levels.push(above);
  }
  return {
    root: (levels[depth] as bigint[])[0] as bigint,
    path(chunkIndex) {
      if (!Number.isSafeInteger(chunkIndex) || chunkIndex < 0 || chunkIndex >= chunkRoots.length) {
        throw new RangeError(`chunk index ${chunkIndex} is not in 0..${chunkRoots.length - 1}`);
      }
      return Array.from({ length: depth }, (_, l) => {
        const start = Math.floor(chunkIndex / TREE_ARITY ** (l + 1)) * TREE_ARITY;
        return childrenAt(levels[l] as bigint[], start, empty[l] as bigint);
      });
    },
  };
}

function childrenAt(level: readonly bigint[], start: number, empty: bigint): bigint[] {
  return Array.from({ length: TREE_ARITY }, (_, k) => level[start + k] ?? empty);
}

function assertPowerOfTwo(name: string, value: unknown, max: number): asserts value is number {
  if (
    typeof value !== "number" ||
    !Number.isSafeInteger(value) ||
    value < 1 ||
    value > max ||
    (value & (value - 1)) !== 0
  ) {
    throw new RangeError(`layout.${name} must be a power of two in 1..${max} (got ${String(value)})`);
  }
}

/** Throws RangeError naming the first record whose key is not above the previous one. */
export function assertKeyOrder(records: readonly (readonly bigint[])[], keyField: number | undefined): void {
  if (keyField === undefined) return;
  for (let i = 1; i < records.length; i++) {
    if ((records[i]?.[keyField] as bigint) <= (records[i - 1]?.[keyField] as bigint)) {
      throw new RangeError(
        `record ${i}: key field ${keyField} is not above the previous record's; keys must be strictly increasing (sort the input by key)`,
      );
    }
  }
}
