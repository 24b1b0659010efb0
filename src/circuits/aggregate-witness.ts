/**
 * @module circuits/aggregate-witness
 *
 * TypeScript twin of `circuits/lib/aggregate.circom`: builds the circuit input (identical signal names) from a
 * dataset commitment and a lowered query, and predicts the public signals the circuit must output. The
 * prediction uses the reference semantics (query/evaluate.ts `evaluateLowered`), so a proof whose outputs
 * differ from it is refused before it leaves the prover. Operator-only; the public-signal layout a verifier
 * recomputes lives in the browser-safe `public-signals.ts`.
 *
 * Security caveat: the input holds every record and salt in clear; it must never leave the prover process.
 */

import { FIELD_ORDER } from "../core/field.ts";
import type { RecordSlots } from "../dataset/commitment.ts";
import { evaluateLowered } from "../query/evaluate.ts";
import {
  checkDominanceShare,
  decodeAggregateElement,
  decodeClauseElement,
  type LoweredQuery,
} from "../query/lower.ts";
import { type AggregateOutputs, type AggregatePublicInputs, suppressionElement } from "./public-signals.ts";
import type { AggregateShape } from "./shape.ts";

/** Circuit input in the exact shape and names `Aggregate` declares (decimal strings). */
/** The statement's input signals, shared by the Aggregate and ChunkFinal circuits (same names, same order). */
export interface StatementCircuitInput {
  root: string;
  recordCount: string;
  minGroupSize: string;
  nonce: string;
  aggregate: string;
  clauses: string[];
}

/** The statement's public inputs as circuit input signals (decimal strings). */
export function statementCircuitInput(inputs: AggregatePublicInputs): StatementCircuitInput {
  return {
    root: inputs.root.toString(),
    recordCount: String(inputs.recordCount),
    minGroupSize: suppressionElement(inputs.minGroupSize, inputs.dominanceShare ?? 0).toString(),
    nonce: inputs.nonce.toString(),
    aggregate: inputs.query.aggregate.toString(),
    clauses: inputs.query.clauses.map(String),
  };
}

export interface AggregateCircuitInput extends StatementCircuitInput {
  values: string[][];
  flags: string[];
  salts: string[];
  [signal: string]: unknown;
}

/** Checks the public inputs against the shape (canonical, in range) before any witness work. */
export function checkPublicInputs(shape: AggregateShape, inputs: AggregatePublicInputs): void {
  if (inputs.root < 0n || inputs.root >= FIELD_ORDER) throw new RangeError("root must be in [0, r)");
  if (inputs.nonce < 0n || inputs.nonce >= FIELD_ORDER) throw new RangeError("nonce must be in [0, r)");
  if (
    !Number.isSafeInteger(inputs.recordCount) ||
    inputs.recordCount < 0 ||
    inputs.recordCount > shape.capacity
  ) {
    throw new RangeError(
      `recordCount must be an integer in 0..${shape.capacity} (got ${inputs.recordCount})`,
    );
  }
  if (
    !Number.isSafeInteger(inputs.minGroupSize) ||
    inputs.minGroupSize < 0 ||
    inputs.minGroupSize >= 2 ** 32
  ) {
    throw new RangeError(`minGroupSize must be an integer in 0..2^32-1 (got ${inputs.minGroupSize})`);
  }
  checkDominanceShare(inputs.dominanceShare ?? 0);
  if (inputs.query.clauses.length !== shape.clauses) {
    throw new RangeError(`expected ${shape.clauses} clause elements, got ${inputs.query.clauses.length}`);
  }
  // Decoding re-validates every element against W, M and F.
  decodeAggregateElement(inputs.query.aggregate, shape.width);
  for (const element of inputs.query.clauses) {
    const clause = decodeClauseElement(element, shape.width, shape.setSize);
    if (clause.fieldIndex >= shape.fields) {
      throw new RangeError(`clause field index ${clause.fieldIndex} >= F = ${shape.fields}`);
    }
  }
}

/** The circuit input for a statement over committed slots. */
export function aggregateCircuitInput(
  shape: AggregateShape,
  slots: RecordSlots,
  inputs: AggregatePublicInputs,
): AggregateCircuitInput {
  checkPublicInputs(shape, inputs);
  if (slots.values.length !== shape.capacity) {
    throw new RangeError(`expected ${shape.capacity} record slots, got ${slots.values.length}`);
  }
  return {
    ...statementCircuitInput(inputs),
    values: slots.values.map((record) => record.map(String)),
    flags: slots.flags.map(String),
    salts: slots.salts.map(String),
  };
}

/** Outputs the circuit must produce, by the reference semantics of the lowered query. */
export function expectedOutputs(
  shape: AggregateShape,
  slots: RecordSlots,
  inputs: AggregatePublicInputs,
): AggregateOutputs {
  const lowered: LoweredQuery = {
    aggregate: decodeAggregateElement(inputs.query.aggregate, shape.width),
    clauses: inputs.query.clauses.map((element) => decodeClauseElement(element, shape.width, shape.setSize)),
  };
  const realRecords = slots.values.slice(0, inputs.recordCount);
  const result = evaluateLowered(lowered, realRecords, inputs.recordCount, {
    minGroupSize: inputs.minGroupSize,
    dominanceShare: inputs.dominanceShare ?? 0,
  });
  return { suppressed: result.suppressed, answer: result.answer };
}
