/**
 * @module test/helpers/random
 *
 * Seeded, dependency-free random generators for property tests: a mulberry32 PRNG, random schemas,
 * random encoded records and random valid queries whose values are often taken from (or next to) the
 * data, so that predicates actually match. Used by the query tests and by the circuit property tests.
 *
 * Caveat: mulberry32 is NOT cryptographic; it exists only to make failing cases reproducible from a seed.
 */
import { type FieldSpec, fieldWidth, parseSchema, type Schema } from "../../src/dataset/schema.ts";
import {
  AGGREGATE_KINDS,
  type Aggregate,
  type AggregateKind,
  type Clause,
  OPS,
  type Query,
  readableInteger,
  readableValue,
  type ScalarValue,
} from "../../src/query/model.ts";

export interface Rng {
  /** The seed this generator was created from (print it when a property fails). */
  readonly seed: number;
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number;
  /** Integer in [lo, hi] (inclusive); bias below 2^-32 per draw, fine for tests. */
  bigint(lo: bigint, hi: bigint): bigint;
  /** true with probability p. */
  bool(p?: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** A shuffled copy. */
  shuffle<T>(items: readonly T[]): T[];
}

/** mulberry32: a 32-bit state PRNG, small and well distributed for test data. */
export function createRng(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  let state = seed >>> 0;
  const nextUint32 = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const rng: Rng = {
    seed,
    next: () => nextUint32() / 2 ** 32,
    int(lo, hi) {
      if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi < lo) {
        throw new RangeError(`int(${lo}, ${hi}): need integers lo <= hi`);
      }
      return lo + Math.floor(rng.next() * (hi - lo + 1));
    },
    bigint(lo, hi) {
      if (hi < lo) throw new RangeError(`bigint(${lo}, ${hi}): need lo <= hi`);
      const span = hi - lo + 1n;
      let draw = 0n;
      for (let bits = 0n; 1n << bits < span << 32n; bits += 32n) draw = (draw << 32n) | BigInt(nextUint32());
      return lo + (draw % span);
    },
    bool: (p = 0.5) => rng.next() < p,
    pick(items) {
      if (items.length === 0) throw new RangeError("pick from an empty list");
      return items[rng.int(0, items.length - 1)] as (typeof items)[number];
    },
    shuffle(items) {
      const copy = [...items];
      for (let i = copy.length - 1; i > 0; i--) {
        const j = rng.int(0, i);
        [copy[i], copy[j]] = [copy[j] as (typeof copy)[number], copy[i] as (typeof copy)[number]];
      }
      return copy;
    },
  };
  return rng;
}

const ENUM_POOL = ["FR", "DE", "enwiki", "frwiki", "a b", "x,y", "{z}", "ü", "0", "true", "none", "other"];

export interface RandomSchemaOptions {
  /** Most fields (>= 1), key included. */
  maxFields: number;
  /** Widest field in bits (1..64); every field fits it. */
  maxWidth: number;
  /** Whether the schema gets a uint key field "userId" of maxWidth bits; default: at random. */
  key?: boolean;
}

/** A valid random schema (passes parseSchema); field names f0, f1, ... and "userId" for the key. */
export function randomSchema(rng: Rng, options: RandomSchemaOptions): Schema {
  const { maxFields, maxWidth } = options;
  if (!Number.isSafeInteger(maxFields) || maxFields < 1) throw new RangeError("maxFields must be >= 1");
  if (!Number.isSafeInteger(maxWidth) || maxWidth < 1 || maxWidth > 64)
    throw new RangeError("maxWidth: 1..64");
  const count = rng.int(1, maxFields);
  const fields: FieldSpec[] = [];
  for (let i = 0; i < count; i++) fields.push(randomField(rng, `f${i}`, maxWidth));
  const withKey = options.key ?? rng.bool();
  if (!withKey) return parseSchema({ fields });
  fields[rng.int(0, count - 1)] = { name: "userId", type: "uint", bits: maxWidth };
  return parseSchema({ fields, key: "userId" });
}

function randomField(rng: Rng, name: string, maxWidth: number): FieldSpec {
  const roll = rng.next();
  if (roll < 0.5) {
    const bits = rng.pick([1, maxWidth, rng.int(1, maxWidth)]);
    return { name, type: "uint", bits };
  }
  if (roll < 0.8) {
    const most = Math.min(ENUM_POOL.length, 2 ** Math.min(maxWidth, 30));
    return { name, type: "enum", values: rng.shuffle(ENUM_POOL).slice(0, rng.int(1, most)) };
  }
  return { name, type: "bool" };
}

/** Largest valid encoded value of a field (enum: last index). */
export function fieldMax(spec: FieldSpec): bigint {
  return spec.type === "enum" ? BigInt(spec.values.length - 1) : (1n << BigInt(fieldWidth(spec))) - 1n;
}

/**
 * `count` random encoded records in schema order. Values cluster on a few per-field "hot" values and the
 * edges (0, max) so that equalities and ranges match often. Keys (if any) are unique.
 */
export function randomRecords(rng: Rng, schema: Schema, count: number): bigint[][] {
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError("count must be a non-negative integer");
  const hot = schema.fields.map((spec) => [0n, fieldMax(spec), rng.bigint(0n, fieldMax(spec))]);
  const columns = schema.fields.map((spec, j) =>
    spec.name === schema.key
      ? uniqueValues(rng, fieldMax(spec), count)
      : Array.from({ length: count }, () =>
          rng.bool(0.5) ? rng.pick(hot[j] ?? [0n]) : rng.bigint(0n, fieldMax(spec)),
        ),
  );
  return Array.from({ length: count }, (_, i) => columns.map((column) => column[i] as bigint));
}

function uniqueValues(rng: Rng, max: bigint, count: number): bigint[] {
  if (BigInt(count) > max + 1n) throw new RangeError(`cannot draw ${count} unique keys below ${max + 1n}`);
  const seen = new Set<bigint>();
  if (max < 4096n) {
    const all = Array.from({ length: Number(max) + 1 }, (_, i) => BigInt(i));
    return rng.shuffle(all).slice(0, count);
  }
  while (seen.size < count) seen.add(rng.bool(0.2) ? rng.pick([0n, max]) : rng.bigint(0n, max));
  return rng.shuffle([...seen]);
}

export interface RandomQueryOptions {
  /** Most circuit clause slots the lowered query may need (membership's key clause included); >= 1. */
  maxClauses: number;
  /** Most values in an `in` clause (the circuit's M). */
  maxSet: number;
  /** Aggregate kinds to draw from (infeasible ones, e.g. sum without a uint field, are skipped). */
  kinds?: readonly AggregateKind[];
  /** Encoded records to draw values near; without them values are edges or uniform. */
  records?: readonly (readonly bigint[])[];
  /** Largest threshold k (default: records + 2); keep it below 2^W when lowering. */
  maxK?: bigint;
}

/** A random valid query over `schema` (passes parseQuery), clause order and value spellings varied. */
export function randomQuery(rng: Rng, schema: Schema, options: RandomQueryOptions): Query {
  const records = options.records ?? [];
  const kind = pickKind(rng, schema, options.kinds ?? AGGREGATE_KINDS);
  const slots = Math.max(0, options.maxClauses - (kind === "membership" ? 1 : 0));
  const predicate: Clause[] = [];
  for (let n = rng.int(0, slots); n > 0; n--)
    predicate.push(randomClause(rng, schema, records, options.maxSet));
  return { predicate, aggregate: randomAggregate(rng, schema, records, kind, options.maxK) };
}

function pickKind(rng: Rng, schema: Schema, kinds: readonly AggregateKind[]): AggregateKind {
  const feasible = kinds.filter(
    (kind) =>
      (kind !== "sum" || schema.fields.some((spec) => spec.type === "uint")) &&
      (kind !== "membership" || schema.key !== undefined),
  );
  return feasible.length === 0 ? "count" : rng.pick(feasible);
}

function randomClause(
  rng: Rng,
  schema: Schema,
  records: readonly (readonly bigint[])[],
  maxSet: number,
): Clause {
  const fieldIndex = rng.int(0, schema.fields.length - 1);
  const spec = schema.fields[fieldIndex] as FieldSpec;
  const draw = () => nearValue(rng, spec, records, fieldIndex);
  const write = (value: bigint) => spelled(rng, spec, value);
  const op = rng.pick(OPS);
  if (op === "between") {
    const [a, b] = [draw(), draw()];
    return { field: spec.name, op, value: a <= b ? [write(a), write(b)] : [write(b), write(a)] };
  }
  if (op === "in") {
    const size = rng.int(1, Math.max(1, Math.min(maxSet, Number(fieldMax(spec) + 1n))));
    const values = new Set<bigint>();
    for (let tries = 0; values.size < size && tries < 4 * size; tries++) values.add(draw());
    return { field: spec.name, op, value: [...values].map(write) };
  }
  return { field: spec.name, op, value: write(draw()) };
}

/** A value of the field: often a data value or its neighbour, else an edge or uniform. */
function nearValue(
  rng: Rng,
  spec: FieldSpec,
  records: readonly (readonly bigint[])[],
  fieldIndex: number,
): bigint {
  const max = fieldMax(spec);
  const roll = rng.next();
  if (records.length > 0 && roll < 0.6) {
    const base = rng.pick(records)[fieldIndex] ?? 0n;
    const moved = base + BigInt(rng.pick([0, 0, -1, 1]));
    return moved < 0n ? 0n : moved > max ? max : moved;
  }
  if (roll < 0.8) return rng.pick([0n, max]);
  return rng.bigint(0n, max);
}

/** The readable value, sometimes spelled as a decimal string or bigint (uint) to exercise parsing. */
function spelled(rng: Rng, spec: FieldSpec, value: bigint): ScalarValue {
  if (spec.type === "uint") {
    const roll = rng.next();
    if (roll < 0.15) return value.toString();
    if (roll < 0.25) return value;
  }
  return readableValue(spec, value);
}

function randomAggregate(
  rng: Rng,
  schema: Schema,
  records: readonly (readonly bigint[])[],
  kind: AggregateKind,
  maxK: bigint | undefined,
): Aggregate {
  switch (kind) {
    case "count":
      return { kind };
    case "sum":
      return { kind, field: rng.pick(schema.fields.filter((spec) => spec.type === "uint")).name };
    case "threshold": {
      const limit = maxK ?? BigInt(records.length + 2);
      const k = rng.bool(0.7) ? rng.bigint(0n, limit < 3n ? limit : 3n) : rng.bigint(0n, limit);
      return { kind, k: readableInteger(k) };
    }
    case "membership": {
      const keyIndex = schema.fields.findIndex((spec) => spec.name === schema.key);
      const keySpec = schema.fields[keyIndex] as FieldSpec;
      const key =
        records.length > 0 && rng.bool(0.7)
          ? (rng.pick(records)[keyIndex] ?? 0n)
          : nearValue(rng, keySpec, [], keyIndex);
      return { kind, key: readableInteger(key) };
    }
  }
}
