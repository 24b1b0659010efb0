/**
 * @module circuits/statement
 *
 * Recomputes the public signals of an aggregate proof from public data only: the signed dataset manifest,
 * the readable query, the claimed answer, the policy's minimum group size and the partner's nonce. A verifier
 * compares these with the proof's signals, so a proof cannot be replayed for another dataset, epoch, query,
 * answer, group size or nonce. Browser-safe: no Node.js imports.
 */

import { FIELD_ORDER, isCanonicalDecimal } from "../core/field.ts";
import type { DatasetManifest } from "../dataset/manifest.ts";
import { parseSchema } from "../dataset/schema.ts";
import { encodeQueryPublic } from "../query/lower.ts";
import type { Query } from "../query/model.ts";
import { InputError } from "../util/errors.ts";
import { type AggregatePublicInputs, aggregatePublicSignals } from "./public-signals.ts";
import { type AggregateShape, assertLayoutOf, shapeFromId } from "./shape.ts";

/**
 * The claimed answer: suppressed (value ignored), or a count/sum (decimal string or bigint) or a boolean.
 * Bundle and QueryProof answers (`{kind, suppressed, value}`) fit as they are.
 */
export interface ClaimedAnswer {
  readonly suppressed: boolean;
  readonly value?: string | bigint | boolean | null;
}

export interface Statement {
  readonly manifest: DatasetManifest;
  readonly circuitId: string;
  readonly query: Query;
  readonly answer: ClaimedAnswer;
  readonly minGroupSize: number;
  /** Dominance share (percent, 0..100; absent = 0, no rule), packed into the minGroupSize signal. */
  readonly dominanceShare?: number;
  /** Canonical decimal string or bigint below r. */
  readonly nonce: string | bigint;
}

/** The circuit shape named by the statement, checked against the manifest's layout and circuit list. */
export function statementShape(statement: Pick<Statement, "manifest" | "circuitId">): AggregateShape {
  const shape = shapeFromId(statement.circuitId);
  assertLayoutOf(shape, statement.manifest.layout, "manifest");
  if (!statement.manifest.circuits.includes(statement.circuitId)) {
    throw new InputError("invalid_statement", `manifest does not announce circuit ${statement.circuitId}`);
  }
  return shape;
}

/** Public signals (snarkjs order, canonical decimal strings) that a valid proof of `statement` must carry. */
export function expectedPublicSignals(statement: Statement): string[] {
  const shape = statementShape(statement);
  const schema = parseSchema(statement.manifest.schema);
  const nonce =
    typeof statement.nonce === "bigint" ? statement.nonce : parseCanonical(statement.nonce, "nonce");
  if (nonce >= FIELD_ORDER) throw new RangeError("nonce must be below the field order r");
  const inputs: AggregatePublicInputs = {
    root: parseCanonical(statement.manifest.root, "manifest.root"),
    recordCount: statement.manifest.recordCount,
    minGroupSize: statement.minGroupSize,
    dominanceShare: statement.dominanceShare ?? 0,
    nonce,
    query: encodeQueryPublic(statement.query, schema, shape),
  };
  return aggregatePublicSignals(inputs, claimedOutputs(statement.query, statement.answer));
}

/** The circuit outputs (suppressed, answer) a claimed answer stands for; suppressed answers are 0. */
export function claimedOutputs(query: Query, answer: ClaimedAnswer): { suppressed: bigint; answer: bigint } {
  if (answer.suppressed) return { suppressed: 1n, answer: 0n };
  const kind = query.aggregate.kind;
  const value = answer.value;
  if (value === undefined || value === null)
    throw new TypeError("answer.value is required unless suppressed");
  if (kind === "threshold" || kind === "membership") {
    if (typeof value !== "boolean") throw new TypeError(`answer.value must be a boolean for ${kind}`);
    return { suppressed: 0n, answer: value ? 1n : 0n };
  }
  if (typeof value === "boolean") throw new TypeError(`answer.value must be a number for ${kind}`);
  const amount = typeof value === "bigint" ? value : parseCanonical(value, "answer.value");
  if (amount >= FIELD_ORDER) throw new RangeError("answer.value must be below the field order r");
  return { suppressed: 0n, answer: amount };
}

function parseCanonical(text: string, name: string): bigint {
  if (typeof text !== "string" || !isCanonicalDecimal(text)) {
    throw new TypeError(`${name} must be a canonical decimal string`);
  }
  return BigInt(text);
}
