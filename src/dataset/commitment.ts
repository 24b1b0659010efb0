/**
 * @module dataset/commitment
 *
 * The dataset commitment of docs/design.md section 2: record slots (values, real-or-padding flag, salt) are
 * packed into field elements, B records are hashed per leaf with PoseidonEx(·, TAG_LEAF), and leaves are
 * combined by a complete A-ary Poseidon tree with PoseidonEx(·, TAG_NODE). This is the TypeScript twin of
 * `circuits/lib/commitment.circom`; both must agree on the known-answer vectors in test/commitment.test.ts.
 *
 * Security caveats: the root hides the records only while the salts stay secret (they derive from the
 * dataset secret); packing is injective only for values below 2^W, which `slotsFromRecords` enforces and the
 * circuit range-checks.
 */
import { buildPoseidonHash } from "../poseidon/index.ts";
import { InputError } from "../util/errors.ts";
import {
  type CommitmentLayout,
  leafCount,
  makeLayout,
  PACKED_ELEMENT_BITS,
  packedElementCount,
} from "./layout.ts";
import { deriveSalts } from "./salt.ts";

/** Capacity tags: int(utf8("zktally/leaf/v1")) and int(utf8("zktally/node/v1")). */
export const TAG_LEAF = 635639655186813546321495903129531953n;
export const TAG_NODE = 635639655186813546322069861067355697n;

/** The N record slots a root commits to (real records first, then padding). */
export interface RecordSlots {
  readonly values: readonly (readonly bigint[])[];
  readonly flags: readonly bigint[];
  readonly salts: readonly bigint[];
}

export interface Commitment {
  readonly layout: CommitmentLayout;
  readonly slots: RecordSlots;
  readonly recordCount: number;
  readonly leaves: readonly bigint[];
  readonly root: bigint;
}

export type PoseidonEx = (inputs: readonly bigint[], initialState: bigint) => bigint;

let poseidonPromise: Promise<PoseidonEx> | undefined;

/**
 * The fast circomlib-compatible Poseidon of src/poseidon (WebAssembly, all widths), built once per process.
 * Inputs must be canonical field elements.
 */
export function getPoseidon(): Promise<PoseidonEx> {
  poseidonPromise ??= buildPoseidonHash();
  return poseidonPromise;
}

/** Packs F values of W bits and the flag into elements (design.md section 2); values must be < 2^W. */
export function packRecord(values: readonly bigint[], flag: bigint, width: number): bigint[] {
  const items: [bigint, number][] = values.map((value) => [value, width]);
  items.push([flag, 1]);
  const packed: bigint[] = [0n];
  let used = 0;
  for (const [value, bits] of items) {
    if (value < 0n || value >> BigInt(bits) !== 0n) {
      throw new RangeError(`packed value ${value} does not fit in ${bits} bits`);
    }
    if (used + bits > PACKED_ELEMENT_BITS) {
      packed.push(0n);
      used = 0;
    }
    packed[packed.length - 1] = (packed.at(-1) as bigint) | (value << BigInt(used));
    used += bits;
  }
  return packed;
}

/**
 * Builds the N slots for encoded records (schema order, at most F fields each; missing fields are 0).
 * Salts come from the dataset secret, so the same data, id and epoch always give the same root.
 */
export function slotsFromRecords(
  layout: CommitmentLayout,
  records: readonly (readonly bigint[])[],
  salts: readonly bigint[],
): RecordSlots {
  if (records.length > layout.capacity) {
    throw new InputError(
      "invalid_dataset",
      `${records.length} records exceed the layout capacity ${layout.capacity}`,
      { hint: "split the dataset or serve a circuit with a larger capacity" },
    );
  }
  if (salts.length !== layout.capacity) {
    throw new RangeError(`expected ${layout.capacity} salts, got ${salts.length}`);
  }
  const limit = 1n << BigInt(layout.width);
  const values = Array.from({ length: layout.capacity }, (_, slot) => {
    const record = records[slot] ?? [];
    if (record.length > layout.fields) {
      throw new RangeError(`record ${slot} has ${record.length} fields, layout allows ${layout.fields}`);
    }
    return Array.from({ length: layout.fields }, (_, field) => {
      const value = record[field] ?? 0n;
      if (value < 0n || value >= limit) {
        throw new RangeError(`record ${slot} field ${field}: ${value} does not fit in ${layout.width} bits`);
      }
      return value;
    });
  });
  const flags = values.map((_, slot) => (slot < records.length ? 1n : 0n));
  return { values, flags, salts: [...salts] };
}

/** Leaves and root of the slots under the layout. */
export async function commitSlots(
  layout: CommitmentLayout,
  slots: RecordSlots,
): Promise<{ leaves: bigint[]; root: bigint }> {
  const poseidon = await getPoseidon();
  const leaves: bigint[] = [];
  for (let leaf = 0; leaf < leafCount(layout); leaf++) {
    const inputs: bigint[] = [];
    for (let slot = leaf * layout.leafRecords; slot < (leaf + 1) * layout.leafRecords; slot++) {
      inputs.push(
        slots.salts[slot] as bigint,
        ...packRecord(slots.values[slot] as bigint[], slots.flags[slot] as bigint, layout.width),
      );
    }
    leaves.push(poseidon(inputs, TAG_LEAF));
  }
  return { leaves, root: merkleRoot(poseidon, leaves, layout.arity) };
}

/** Root of the complete `arity`-ary tree over the leaves (the single leaf when there is one). */
export function merkleRoot(poseidon: PoseidonEx, leaves: readonly bigint[], arity: number): bigint {
  let level = [...leaves];
  while (level.length > 1) {
    const next: bigint[] = [];
    for (let i = 0; i < level.length; i += arity) next.push(poseidon(level.slice(i, i + arity), TAG_NODE));
    level = next;
  }
  return level[0] as bigint;
}

export interface CommitDatasetInput {
  readonly layout: CommitmentLayout;
  /** Encoded records in schema field order (see dataset/schema encodeValue). */
  readonly records: readonly (readonly bigint[])[];
  readonly secret: Uint8Array;
  readonly datasetId: string;
  readonly epoch: number;
}

/** Commits a dataset: salts from the secret, slots, leaves and root. */
export async function commitDataset(input: CommitDatasetInput): Promise<Commitment> {
  const layout = makeLayout(input.layout);
  const salts = deriveSalts(input.secret, input.datasetId, input.epoch, layout.capacity);
  const slots = slotsFromRecords(layout, input.records, salts);
  const { leaves, root } = await commitSlots(layout, slots);
  return { layout, slots, recordCount: input.records.length, leaves, root };
}

/** Number of packed elements per record for a layout (re-exported for witness builders). */
export function elementsPerRecord(layout: CommitmentLayout): number {
  return packedElementCount(layout.fields, layout.width);
}
