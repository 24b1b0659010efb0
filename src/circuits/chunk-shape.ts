/**
 * @module circuits/chunk-shape
 *
 * Shapes of the chunk-chain circuits of docs/design.md section 7.4: `ChunkStep(S, F, W, C, M, B, K, KEY,
 * DOMAINS, CLAMP)` (CLAMP: the clamped-sum variant of section 8.3, id suffix `-clamp`) and `ChunkFinal(C, W)`, their ids (the parameters, schema domains included, are in the id and the
 * main file name), main-file sources and public-signal names. A verifier derives the chunk id from the signed
 * schema and layout (`chunkShapeFor`), so a proof from a circuit for another schema cannot pass as this one's.
 * Browser-safe: no Node.js imports.
 */
import {
  type ChunkLayout,
  domainFromToken,
  type FieldDomain,
  fieldDomains,
  makeChunkLayout,
} from "../dataset/chunk-layout.ts";
import { keyFieldIndex, type Schema } from "../dataset/schema.ts";
import { type CircuitShape, checkShape } from "../query/lower.ts";

export interface ChunkShape {
  readonly layout: ChunkLayout;
  /** Field domains in circuit field order (F = domains.length). */
  readonly domains: readonly FieldDomain[];
  /** Index of the key field, or undefined without a key. */
  readonly keyField: number | undefined;
  /** C: clause slots. */
  readonly clauses: number;
  /** M: constants per clause. */
  readonly setSize: number;
  /** The clamped-sum variant (CLAMP = 1, design.md 8.3); absent or false: no clamping. */
  readonly clamp?: boolean;
}

export interface FinalShape {
  readonly clauses: number;
  readonly width: number;
}

/** The query-encoding shape (F, W, C, M) of a chunk circuit: W = the widest field (min 1). */
export function chunkQueryShape(shape: ChunkShape): CircuitShape {
  return {
    fields: shape.domains.length,
    width: Math.max(1, ...shape.domains.map((domain) => domain.bits)),
    clauses: shape.clauses,
    setSize: shape.setSize,
  };
}

/** The final-step shape that closes chains of `shape`. */
export function finalShapeOf(shape: ChunkShape): FinalShape {
  return { clauses: shape.clauses, width: chunkQueryShape(shape).width };
}

/** Validates and freezes a chunk shape (layout rules, query-encoding limits, key field is a uint). */
export function makeChunkShape(shape: ChunkShape): ChunkShape {
  const layout = makeChunkLayout(shape.layout, shape.domains);
  const query = chunkQueryShape(shape);
  checkShape(query);
  if (!Number.isSafeInteger(shape.setSize) || shape.setSize < 2) {
    throw new RangeError(`shape.setSize must be an integer >= 2 (got ${shape.setSize})`);
  }
  const key = shape.keyField;
  if (key !== undefined) {
    const domain = shape.domains[key];
    if (!Number.isSafeInteger(key) || domain === undefined || !domain.token.startsWith("u")) {
      throw new RangeError(`keyField ${key} must be the index of a uint field`);
    }
  }
  return Object.freeze({
    layout,
    domains: Object.freeze(shape.domains.map((domain) => Object.freeze({ ...domain }))),
    keyField: key,
    clauses: shape.clauses,
    setSize: shape.setSize,
    ...(shape.clamp === true ? { clamp: true } : {}),
  });
}

/** The chunk shape for a signed schema, a v2 layout and the query capacity (C, M). */
export function chunkShapeFor(
  schema: Schema,
  layout: ChunkLayout,
  query: { clauses: number; setSize: number; clamp?: boolean },
): ChunkShape {
  return makeChunkShape({
    layout,
    domains: fieldDomains(schema),
    keyField: keyFieldIndex(schema),
    clauses: query.clauses,
    setSize: query.setSize,
    ...(query.clamp === true ? { clamp: true } : {}),
  });
}

/** `chunk-s{S}-b{B}-t{K}-c{C}-m{M}-k{KEY|n}-{domain tokens joined by .}` (design.md 7.4). */
export function chunkCircuitId(shape: ChunkShape): string {
  const { chunkSize, leafRecords, treeDepth } = shape.layout;
  const key = shape.keyField === undefined ? "n" : String(shape.keyField);
  const domains = shape.domains.map((domain) => domain.token).join(".");
  const clamp = shape.clamp === true ? "-clamp" : "";
  return `chunk-s${chunkSize}-b${leafRecords}-t${treeDepth}-c${shape.clauses}-m${shape.setSize}-k${key}-${domains}${clamp}`;
}

const CHUNK_ID = /^chunk-s(\d+)-b(\d+)-t(\d+)-c(\d+)-m(\d+)-k(\d+|n)-([a-z0-9.]+?)(-clamp)?$/;

/** Inverse of chunkCircuitId; throws RangeError for anything that is not a canonical id. */
export function chunkShapeFromId(id: string): ChunkShape {
  const match = CHUNK_ID.exec(id);
  if (!match) throw new RangeError(`not a chunk circuit id: ${JSON.stringify(id)}`);
  const [, s, b, t, c, m, key, tokens, clamp] = match as unknown as (string | undefined)[];
  const shape = makeChunkShape({
    layout: { version: 2, chunkSize: Number(s), leafRecords: Number(b), treeDepth: Number(t) },
    domains: (tokens as string).split(".").map(domainFromToken),
    keyField: key === "n" ? undefined : Number(key),
    clauses: Number(c),
    setSize: Number(m),
    clamp: clamp !== undefined,
  });
  if (chunkCircuitId(shape) !== id)
    throw new RangeError(`non-canonical chunk circuit id ${JSON.stringify(id)}`);
  return shape;
}

/** `chunkfinal-c{C}-w{W}`. */
export function finalCircuitId(shape: FinalShape): string {
  return `chunkfinal-c${shape.clauses}-w${shape.width}`;
}

/** Inverse of finalCircuitId. */
export function finalShapeFromId(id: string): FinalShape {
  const match = /^chunkfinal-c([1-9]\d*)-w([1-9]\d*)$/.exec(id);
  if (!match) throw new RangeError(`not a final-step circuit id: ${JSON.stringify(id)}`);
  const shape = { clauses: Number(match[1]), width: Number(match[2]) };
  if (shape.width > 64) throw new RangeError(`final-step width ${shape.width} exceeds 64`);
  return shape;
}

/** Public signal names of ChunkStep, snarkjs order. */
export function chunkPublicSignalNames(shape: Pick<ChunkShape, "clauses">): string[] {
  const clauses = Array.from({ length: shape.clauses }, (_, c) => `clauses[${c}]`);
  return ["accOut", "root", "chunkIndex", "nonce", "aggregate", ...clauses, "accIn"];
}

/** Public signal names of ChunkFinal, snarkjs order. */
export function finalPublicSignalNames(shape: Pick<FinalShape, "clauses">): string[] {
  const clauses = Array.from({ length: shape.clauses }, (_, c) => `clauses[${c}]`);
  return [
    "suppressed",
    "answer",
    "root",
    "recordCount",
    "minGroupSize",
    "nonce",
    "aggregate",
    ...clauses,
    "accIn",
  ];
}

export function chunkMainPath(shape: ChunkShape): string {
  return `circuits/main/${chunkCircuitId(shape)}.circom`;
}

export function finalMainPath(shape: FinalShape): string {
  return `circuits/main/${finalCircuitId(shape)}.circom`;
}

/** Source of `circuits/main/<chunk id>.circom`. */
export function chunkMainSource(shape: ChunkShape): string {
  const { chunkSize, leafRecords, treeDepth } = shape.layout;
  const { fields, width } = chunkQueryShape(shape);
  const key = shape.keyField ?? fields;
  const domains = shape.domains.map((domain) => domain.max.toString()).join(", ");
  return `pragma circom 2.1.6;

// ${chunkCircuitId(shape)}: generated by src/circuits/chunk-shape.ts (chunkMainSource); do not edit by hand.
//   S = ${chunkSize} records per chunk, B = ${leafRecords} records per leaf, K = ${treeDepth} (16-ary dataset tree),
//   F = ${fields} fields (${shape.domains.map((domain) => domain.token).join(" ")}), W = ${width}, key field ${shape.keyField ?? "none"},
//   C = ${shape.clauses} clause slots of M = ${shape.setSize} constants, clamping ${shape.clamp === true ? "on" : "off"}.
// Public signals: accOut (output); root, chunkIndex, nonce, aggregate, clauses[${shape.clauses}], accIn (inputs).
//   See docs/design.md section 7.4.

include "../lib/chunk.circom";

component main {public [root, chunkIndex, nonce, aggregate, clauses, accIn]} =
    ChunkStep(${chunkSize}, ${fields}, ${width}, ${shape.clauses}, ${shape.setSize}, ${leafRecords}, ${treeDepth}, ${key},
        [${domains}], ${shape.clamp === true ? 1 : 0});
`;
}

/** Source of `circuits/main/<final id>.circom`. */
export function finalMainSource(shape: FinalShape): string {
  return `pragma circom 2.1.6;

// ${finalCircuitId(shape)}: generated by src/circuits/chunk-shape.ts (finalMainSource); do not edit by hand.
//   C = ${shape.clauses} clause slots, W = ${shape.width} bits (threshold width).
// Public signals: suppressed, answer (outputs); root, recordCount, minGroupSize, nonce, aggregate,
//   clauses[${shape.clauses}], accIn (inputs). See docs/design.md section 7.4.

include "../lib/chunk-final.circom";

component main {public [root, recordCount, minGroupSize, nonce, aggregate, clauses, accIn]} =
    ChunkFinal(${shape.clauses}, ${shape.width});
`;
}
