/**
 * @module verifier/pass-bundle
 *
 * The pass bundle (`zktally-bundle/v2`, `kind: "pass"`, docs/bundle.md "Pass bundles"): the answers to 1..Q
 * queries over a chunked dataset proven by one multi-query chain (design.md section 9): the signed version-2
 * manifest, the canonical queries, one answer and one statement in words per query, the minimum group size,
 * the nonce, both circuit ids with their key hashes, the chunk proofs and the final proof.
 *
 * `parsePassBundle` checks structure only (exact fields, canonical queries for the circuit, answers that fit
 * each query, the signal counts the circuits fix, every proof point valid); verify-pass.ts checks truth.
 * Answers: count/sum `{kind, suppressed: false, value: "decimal"}`, threshold `value: boolean`, avg
 * `{kind: "avg", suppressed: false, sum: "decimal", count: n}`, suppressed scalars `{kind, suppressed: true}`,
 * histogram `{kind: "histogram", suppressed, cells: [{cell: [values], value: "decimal"} | {cell, hidden: true}]}`
 * with every cell of the table in cell order.
 *
 * Security caveats: a parsed bundle is not a verified one; keys never come from the bundle.
 * Browser-safe: no Node.js imports.
 */
import {
  type PassShape,
  passFinalCircuitId,
  passFinalSignalCount,
  passQueryShape,
  passShapeFromId,
  passStepSignalCount,
} from "../circuits/pass-shape.ts";
import {
  loweredPassFromPublic,
  type PassOutputs,
  paddingResult,
  passOutputsOf,
} from "../circuits/pass-statement.ts";
import { ManifestError } from "../dataset/errors.ts";
import { type ChunkedManifest, parseAnyManifest } from "../dataset/manifest.ts";
import type { FieldSpec, Schema } from "../dataset/schema.ts";
import { QueryError } from "../query/errors.ts";
import { readableValue } from "../query/model.ts";
import {
  canonicalPassQuery,
  describePassQuery,
  encodePassPublic,
  type PassPublicElements,
  type PassQuery,
  type PassResult,
  passQueryHash,
  resolvePassQuery,
} from "../query/pass.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import {
  CHAIN_BUNDLE_FORMAT,
  describeValue,
  expectFields,
  expectString,
  frozenJsonCopy,
  parseCreatedAt,
  parseVkeyHash,
} from "./bundle.ts";
import { MAX_CHAIN_CHUNKS } from "./chain-bundle.ts";
import { VerifierInputError } from "./errors.ts";
import { type ParsedProof, parseProof, parsePublicSignals, parseScalar, type SnarkjsProof } from "./parse.ts";

export type PassAnswer =
  | { readonly kind: "count" | "sum"; readonly suppressed: false; readonly value: string }
  | { readonly kind: "threshold"; readonly suppressed: false; readonly value: boolean }
  | { readonly kind: "avg"; readonly suppressed: false; readonly sum: string; readonly count: number }
  | { readonly kind: "count" | "sum" | "threshold" | "avg"; readonly suppressed: true }
  | {
      readonly kind: "histogram";
      readonly suppressed: boolean;
      readonly cells: readonly (
        | { readonly cell: readonly (string | boolean)[]; readonly value: string }
        | { readonly cell: readonly (string | boolean)[]; readonly hidden: true }
      )[];
    };

export interface PassProofEntry {
  readonly publicSignals: readonly string[];
  readonly proof: SnarkjsProof;
}

export interface PassBundle {
  readonly format: typeof CHAIN_BUNDLE_FORMAT;
  readonly kind: "pass";
  readonly manifest: ChunkedManifest;
  readonly queries: readonly PassQuery[];
  readonly answers: readonly PassAnswer[];
  readonly statements: readonly string[];
  readonly minGroupSize: number;
  readonly nonce: string;
  readonly stepCircuitId: string;
  readonly stepVkeyHash: string;
  readonly finalCircuitId: string;
  readonly finalVkeyHash: string;
  readonly chunks: readonly PassProofEntry[];
  readonly final: PassProofEntry;
  readonly createdAt: string;
}

/** The parsed proofs and signals of a pass-shaped chain bundle (pass, dp-histogram). */
export interface ParsedPassChainProofs {
  readonly chunkSignals: readonly (readonly bigint[])[];
  readonly chunkProofs: readonly ParsedProof[];
  readonly finalSignals: readonly bigint[];
  readonly finalProof: ParsedProof;
}

export interface ParsedPassBundle extends ParsedPassChainProofs {
  readonly bundle: PassBundle;
  readonly shape: PassShape;
  readonly schema: Schema;
  readonly nonce: bigint;
  readonly encodedQuery: PassPublicElements;
  /** The final proof's outputs the answers claim (unused slots: the padding query's). */
  readonly outputs: PassOutputs;
  readonly queryHashes: readonly string[];
}

const PASS_FIELDS = [
  "format",
  "kind",
  "manifest",
  "queries",
  "answers",
  "statements",
  "minGroupSize",
  "nonce",
  "stepCircuitId",
  "stepVkeyHash",
  "finalCircuitId",
  "finalVkeyHash",
  "chunks",
  "final",
  "createdAt",
] as const;

/** The readable answer for a reference result (what the prover writes and the verifier re-reads). */
export function passAnswerOf(query: PassQuery, result: PassResult, schema: Schema): PassAnswer {
  switch (result.kind) {
    case "count":
    case "sum":
      return result.suppressed
        ? { kind: result.kind, suppressed: true }
        : { kind: result.kind, suppressed: false, value: result.value.toString() };
    case "threshold":
      return result.suppressed
        ? { kind: "threshold", suppressed: true }
        : { kind: "threshold", suppressed: false, value: result.value };
    case "avg":
      return result.suppressed
        ? { kind: "avg", suppressed: true }
        : { kind: "avg", suppressed: false, sum: result.sum.toString(), count: result.count };
    case "histogram": {
      const keys = cellKeys(query, schema);
      return {
        kind: "histogram",
        suppressed: result.suppressed,
        cells: result.cells.map((cell, g) =>
          cell.hidden
            ? { cell: keys[g] as (string | boolean)[], hidden: true as const }
            : { cell: keys[g] as (string | boolean)[], value: cell.value.toString() },
        ),
      };
    }
  }
}

/** The readable key of every cell of a histogram query, in cell order. */
export function cellKeys(query: PassQuery, schema: Schema): (string | boolean)[][] {
  const resolved = resolvePassQuery(query, schema).aggregate;
  if (resolved.kind !== "histogram") throw new RangeError("not a histogram query");
  const specs = resolved.by.map((index) => schema.fields[index] as FieldSpec);
  const value = (spec: FieldSpec, v: number) => readableValue(spec, BigInt(v)) as string | boolean;
  const [n1, n2 = 1] = resolved.sizes as [number, number?];
  const keys: (string | boolean)[][] = [];
  for (let b = 0; b < n2; b++) {
    for (let a = 0; a < n1; a++) {
      keys.push(
        specs.length === 1
          ? [value(specs[0] as FieldSpec, a)]
          : [value(specs[0] as FieldSpec, a), value(specs[1] as FieldSpec, b)],
      );
    }
  }
  return keys;
}

/** The reference result an answer states (inverse of {@link passAnswerOf}). */
export function passResultOf(answer: PassAnswer): PassResult {
  if (answer.kind === "histogram") {
    return {
      kind: "histogram",
      suppressed: answer.suppressed,
      cells: answer.cells.map((cell) =>
        "hidden" in cell ? { hidden: true, value: 0n } : { hidden: false, value: BigInt(cell.value) },
      ),
    };
  }
  if (answer.suppressed) {
    if (answer.kind === "threshold") return { kind: "threshold", suppressed: true, value: false };
    if (answer.kind === "avg") return { kind: "avg", suppressed: true, sum: 0n, count: 0 };
    return { kind: answer.kind, suppressed: true, value: 0n };
  }
  if (answer.kind === "threshold") return { kind: "threshold", suppressed: false, value: answer.value };
  if (answer.kind === "avg")
    return { kind: "avg", suppressed: false, sum: BigInt(answer.sum), count: answer.count };
  return { kind: answer.kind, suppressed: false, value: BigInt(answer.value) };
}

/** One query's statement in words: the query, then its answer. */
export function describePassAnswer(
  query: PassQuery,
  answer: PassAnswer,
  schema: Schema,
  minGroupSize: number,
): string {
  return `${describePassQuery(query, schema)}: ${passAnswerInWords(answer, minGroupSize)}`;
}

/** The answer part of a statement, e.g. `DE 12, FR fewer than 5` or `1200 / 31`. */
export function passAnswerInWords(answer: PassAnswer, minGroupSize: number): string {
  const fewer = `fewer than ${minGroupSize} records or all but fewer (suppressed)`;
  switch (answer.kind) {
    case "count":
    case "sum":
    case "threshold":
      return answer.suppressed ? fewer : String(answer.value);
    case "avg":
      return answer.suppressed ? fewer : `${answer.sum} / ${answer.count}`;
    case "histogram": {
      if (answer.suppressed) return `the whole table is suppressed (minimum group size ${minGroupSize})`;
      return answer.cells
        .map(
          (cell) => `${cellLabel(cell.cell)} ${"hidden" in cell ? `fewer than ${minGroupSize}` : cell.value}`,
        )
        .join(", ");
    }
  }
}

/** A histogram cell's key in words: its values joined by "/" (e.g. `FR/true`). */
export function cellLabel(cell: readonly (string | boolean)[]): string {
  return cell.map(String).join("/");
}

function parseManifestV2(value: unknown): ChunkedManifest {
  try {
    const manifest = parseAnyManifest(value);
    if (manifest.version !== 2)
      throw new VerifierInputError("manifest.version", "a pass bundle carries a version-2 manifest");
    return manifest;
  } catch (error) {
    if (error instanceof ManifestError) throw new VerifierInputError(`manifest.${error.path}`, error.reason);
    throw error;
  }
}

/** The bundle's queries: 1..Q, each canonical for the schema. */
export function parsePassQueries(value: unknown, schema: Schema, shape: PassShape): PassQuery[] {
  if (!Array.isArray(value) || value.length < 1 || value.length > shape.queries) {
    throw new VerifierInputError(
      "queries",
      `expected 1 to ${shape.queries} queries, got ${describeValue(value)}`,
    );
  }
  return value.map((query, q) => {
    try {
      const canonical = canonicalPassQuery(query, schema);
      if (canonicalJson(canonical) !== canonicalJson(query)) {
        throw new VerifierInputError(`queries[${q}]`, "query is not in canonical form");
      }
      return canonical;
    } catch (error) {
      if (error instanceof QueryError)
        throw new VerifierInputError(`queries[${q}].${error.path}`, error.reason);
      throw error;
    }
  });
}

function parseAnswerFor(value: unknown, query: PassQuery, schema: Schema, path: string): PassAnswer {
  if (typeof value !== "object" || value === null) throw new VerifierInputError(path, "expected an object");
  const kind = query.aggregate.kind;
  const record = value as Record<string, unknown>;
  if (record.kind !== kind) throw new VerifierInputError(`${path}.kind`, `expected ${JSON.stringify(kind)}`);
  if (typeof record.suppressed !== "boolean")
    throw new VerifierInputError(`${path}.suppressed`, "expected a boolean");
  const decimal = (v: unknown, at: string) => {
    if (typeof v !== "string" || !/^(0|[1-9]\d{0,77})$/.test(v))
      throw new VerifierInputError(at, "expected a decimal string");
  };
  if (kind === "histogram") {
    expectFields(value, path, ["kind", "suppressed", "cells"]);
    const keys = cellKeys(query, schema);
    const cells = record.cells;
    if (!Array.isArray(cells) || cells.length !== keys.length)
      throw new VerifierInputError(`${path}.cells`, `expected ${keys.length} cells`);
    cells.forEach((cell, g) => {
      const at = `${path}.cells[${g}]`;
      const hidden = typeof cell === "object" && cell !== null && "hidden" in cell;
      const entry = expectFields(cell, at, hidden ? ["cell", "hidden"] : ["cell", "value"]);
      if (canonicalJson(entry.cell) !== canonicalJson(keys[g]))
        throw new VerifierInputError(`${at}.cell`, `expected ${JSON.stringify(keys[g])}`);
      if (hidden && entry.hidden !== true) throw new VerifierInputError(`${at}.hidden`, "expected true");
      if (!hidden) decimal(entry.value, `${at}.value`);
      if (record.suppressed === true && !hidden)
        throw new VerifierInputError(at, "a suppressed table hides every cell");
    });
    return value as PassAnswer;
  }
  if (record.suppressed === true) {
    expectFields(value, path, ["kind", "suppressed"]);
    return value as PassAnswer;
  }
  if (kind === "avg") {
    expectFields(value, path, ["kind", "suppressed", "sum", "count"]);
    decimal(record.sum, `${path}.sum`);
    if (typeof record.count !== "number" || !Number.isSafeInteger(record.count) || record.count < 0) {
      throw new VerifierInputError(`${path}.count`, "expected a non-negative integer");
    }
    return value as PassAnswer;
  }
  expectFields(value, path, ["kind", "suppressed", "value"]);
  if (kind === "threshold") {
    if (typeof record.value !== "boolean")
      throw new VerifierInputError(`${path}.value`, "expected a boolean");
  } else decimal(record.value, `${path}.value`);
  return value as PassAnswer;
}

function parseEntry(value: unknown, path: string, count: number): [bigint[], ParsedProof] {
  const record = expectFields(value, path, ["publicSignals", "proof"]);
  return [
    parsePublicSignals(record.publicSignals, count, `${path}.publicSignals`),
    parseProof(record.proof, `${path}.proof`),
  ];
}

function parseShape(record: Record<string, unknown>): PassShape {
  const id = expectString(record.stepCircuitId, "stepCircuitId");
  let shape: PassShape;
  try {
    shape = passShapeFromId(id);
  } catch (error) {
    if (error instanceof RangeError) throw new VerifierInputError("stepCircuitId", error.message);
    throw error;
  }
  const finalId = passFinalCircuitId(shape);
  if (record.finalCircuitId !== finalId)
    throw new VerifierInputError("finalCircuitId", `expected ${JSON.stringify(finalId)}`);
  return shape;
}

/** Parses a pass bundle strictly (see the module comment); throws {@link VerifierInputError}. */
export function parsePassBundle(value: unknown): ParsedPassBundle {
  const snapshot = frozenJsonCopy(value);
  const record = expectFields(snapshot, "bundle", PASS_FIELDS);
  if (record.format !== CHAIN_BUNDLE_FORMAT)
    throw new VerifierInputError("format", `expected ${JSON.stringify(CHAIN_BUNDLE_FORMAT)}`);
  if (record.kind !== "pass")
    throw new VerifierInputError("kind", `expected "pass", got ${describeValue(record.kind)}`);
  const manifest = parseManifestV2(record.manifest);
  const schema = manifest.schema;
  const shape = parseShape(record);
  const queries = parsePassQueries(record.queries, schema, shape);
  const answersValue = record.answers;
  if (!Array.isArray(answersValue) || answersValue.length !== queries.length) {
    throw new VerifierInputError("answers", `expected ${queries.length} answers (one per query)`);
  }
  const answers = answersValue.map((answer, q) =>
    parseAnswerFor(answer, queries[q] as PassQuery, schema, `answers[${q}]`),
  );
  const statements = record.statements;
  if (
    !Array.isArray(statements) ||
    statements.length !== queries.length ||
    statements.some((s) => typeof s !== "string")
  ) {
    throw new VerifierInputError("statements", `expected ${queries.length} strings (one per query)`);
  }
  const minGroupSize = record.minGroupSize;
  if (
    typeof minGroupSize !== "number" ||
    !Number.isSafeInteger(minGroupSize) ||
    minGroupSize < 0 ||
    minGroupSize >= 2 ** 32
  ) {
    throw new VerifierInputError("minGroupSize", "expected an integer 0..2^32-1");
  }
  const nonce = parseScalar(record.nonce, "nonce");
  parseVkeyHash(record.stepVkeyHash, "stepVkeyHash");
  parseVkeyHash(record.finalVkeyHash, "finalVkeyHash");
  const chunks = record.chunks;
  if (!Array.isArray(chunks) || chunks.length === 0 || chunks.length > MAX_CHAIN_CHUNKS) {
    throw new VerifierInputError("chunks", `expected 1 to ${MAX_CHAIN_CHUNKS} chunk proofs`);
  }
  const parsedChunks = chunks.map((entry, i) =>
    parseEntry(entry, `chunks[${i}]`, passStepSignalCount(shape)),
  );
  const [finalSignals, finalProof] = parseEntry(record.final, "final", passFinalSignalCount(shape));
  parseCreatedAt(record.createdAt);
  const encodedQuery = encodePassPublic(queries, schema, passQueryShape(shape));
  const aggregates = loweredPassFromPublic(shape, encodedQuery).map((query) => query.aggregate);
  let outputs: PassOutputs;
  try {
    outputs = passOutputsOf(
      shape,
      aggregates,
      answers.map(passResultOf),
      paddingResult(manifest.recordCount, minGroupSize),
    );
  } catch (error) {
    if (error instanceof RangeError) throw new VerifierInputError("answers", error.message);
    throw error;
  }
  return {
    bundle: snapshot as PassBundle,
    shape,
    schema,
    nonce,
    encodedQuery,
    outputs,
    chunkSignals: parsedChunks.map(([signals]) => signals),
    chunkProofs: parsedChunks.map(([, proof]) => proof),
    finalSignals,
    finalProof,
    queryHashes: queries.map((query) => passQueryHash(query, schema)),
  };
}
