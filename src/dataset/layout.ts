/**
 * @module dataset/layout
 *
 * The commitment layout `{capacity N, fields F, width W, leafRecords B, arity A}` (design.md section 2) and
 * its validity rules. A layout fixes the circuit shape: N record slots, F fields of W bits each, B records
 * per leaf and A children per node, with N = B * A^D.
 *
 * Security caveats: the bounds here are soundness preconditions of the circuits, not conveniences:
 * W + ceil(log2(N+1)) <= 252 keeps sums from wrapping the field, B*(1+E) <= 16 and A <= 16 keep every
 * Poseidon call within circomlib's 16 inputs, and F <= 256 matches the 8-bit field index of clauses.
 */
import { InputError } from "../util/errors.ts";

export interface CommitmentLayout {
  readonly capacity: number;
  readonly fields: number;
  readonly width: number;
  readonly leafRecords: number;
  readonly arity: number;
}

/** Largest element used for packed record items (salts and packed elements stay below 2^248 < r). */
export const PACKED_ELEMENT_BITS = 248;
/** circomlib's PoseidonEx takes at most 16 inputs. */
export const MAX_POSEIDON_INPUTS = 16;
export const MAX_WIDTH = 64;
export const MAX_LAYOUT_FIELDS = 256;
/** Field bits left after reserving room for the sign-free sum of N values (design.md section 4). */
export const MAX_SUM_BITS = 252;

/**
 * Number of field elements E a record packs into: the items F x W bits then a 1-bit flag, packed greedily
 * little-endian into elements of at most 248 bits without splitting an item. F=8, W=32 -> 2.
 */
export function packedElementCount(fields: number, width: number): number {
  assertInteger("fields", fields, 1, MAX_LAYOUT_FIELDS);
  assertInteger("width", width, 1, MAX_WIDTH);
  let elements = 1;
  let used = 0;
  const itemBits = [...Array<number>(fields).fill(width), 1];
  for (const bits of itemBits) {
    if (used + bits > PACKED_ELEMENT_BITS) {
      elements++;
      used = 0;
    }
    used += bits;
  }
  return elements;
}

/** Depth D of the node tree: capacity = leafRecords * arity^D. */
export function layoutDepth(layout: CommitmentLayout): number {
  let depth = 0;
  for (let leaves = layout.capacity / layout.leafRecords; leaves > 1; leaves /= layout.arity) depth++;
  return depth;
}

/** Number of leaves N / B. */
export function leafCount(layout: CommitmentLayout): number {
  return layout.capacity / layout.leafRecords;
}

/** Validates and freezes a layout; throws `InputError` (invalid_layout) naming the offending parameter. */
export function makeLayout(input: CommitmentLayout): CommitmentLayout {
  if (typeof input !== "object" || input === null)
    throw new InputError("invalid_layout", "layout must be an object");
  const { capacity, fields, width, leafRecords, arity } = input;
  assertInteger("fields", fields, 1, MAX_LAYOUT_FIELDS);
  assertInteger("width", width, 1, MAX_WIDTH);
  assertInteger("arity", arity, 2, MAX_POSEIDON_INPUTS);
  assertInteger("leafRecords", leafRecords, 1, MAX_POSEIDON_INPUTS);
  assertInteger("capacity", capacity, 1, Number.MAX_SAFE_INTEGER);
  const perRecord = 1 + packedElementCount(fields, width);
  if (leafRecords * perRecord > MAX_POSEIDON_INPUTS) {
    throw new InputError(
      "invalid_layout",
      `leafRecords ${leafRecords} x ${perRecord} inputs per record (salt + ${perRecord - 1} packed) exceeds ${MAX_POSEIDON_INPUTS} Poseidon inputs`,
    );
  }
  if (!isLeafRecordsTimesPowerOfArity(capacity, leafRecords, arity)) {
    throw new InputError(
      "invalid_layout",
      `capacity ${capacity} is not leafRecords (${leafRecords}) x arity (${arity})^D`,
    );
  }
  const sumBits = width + bitLength(capacity);
  if (sumBits > MAX_SUM_BITS) {
    throw new InputError(
      "invalid_layout",
      `width ${width} + ceil(log2(capacity + 1)) = ${sumBits} exceeds ${MAX_SUM_BITS} bits`,
    );
  }
  return Object.freeze({ capacity, fields, width, leafRecords, arity });
}

function isLeafRecordsTimesPowerOfArity(capacity: number, leafRecords: number, arity: number): boolean {
  if (capacity % leafRecords !== 0) return false;
  let leaves = capacity / leafRecords;
  while (leaves % arity === 0) leaves /= arity;
  return leaves === 1;
}

/** ceil(log2(n + 1)): the number of bits of n. */
function bitLength(n: number): number {
  return n.toString(2).length;
}

function assertInteger(name: string, value: unknown, min: number, max: number): asserts value is number {
  if (typeof value !== "number")
    throw new InputError("invalid_layout", `layout.${name} must be a number (got ${typeof value})`);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InputError(
      "invalid_layout",
      `layout.${name} must be an integer in ${min}..${max} (got ${value})`,
    );
  }
}
