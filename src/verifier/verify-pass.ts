/**
 * @module verifier/verify-pass
 *
 * Verifies pass bundles (`zktally-bundle/v2`, `kind: "pass"`; docs/bundle.md "Pass bundles") offline, with the
 * same steps as verify-chain.ts: strict parse (and `expectedNonce`), the manifest (pinned or signed by the
 * operator key), the circuits (the step id must be the one the signed schema and layout give for the bundle's
 * Q, H, G, C and M, both announced by the manifest), both pinned keys, every statement sentence recomputed,
 * then the chain: each chunk's signals recomputed (index, root, nonce, every query element, accIn from 0)
 * and the final proof's from the answers of all Q queries (circuits/pass-statement.ts), the chunk proofs in
 * one randomised batch and the final proof. The first bad chunk is named.
 *
 * Security caveats: keys come only from `options`; each query is counted by the caller's policy and audit
 * (one bundle = Q answers). Browser-safe: no Node.js imports, no prover code.
 */
import { chunkQueryShape } from "../circuits/chunk-shape.ts";
import { passCircuitId, passShapeFor } from "../circuits/pass-shape.ts";
import { checkPassChainSignals, type PassChainCheck } from "../circuits/pass-statement.ts";
import { manifestHash } from "../dataset/manifest.ts";
import type { PassQuery } from "../query/pass.ts";
import { findInvalidParsedBatchItems, type RandomBytes } from "./batch.ts";
import { groth16EquationHolds } from "./groth16.ts";
import {
  describePassAnswer,
  type ParsedPassBundle,
  type ParsedPassChainProofs,
  type PassAnswer,
  parsePassBundle,
} from "./pass-bundle.ts";
import {
  type BundleRejected,
  checkManifest,
  checkOptions,
  pinnedChainKeys,
  type RejectionCheck,
  reject,
  type VerifyOptions,
} from "./verify-bundle.ts";
import type { PreparedVerifyingKey } from "./vkey.ts";

export interface PassVerified {
  readonly valid: true;
  readonly kind: "pass";
  /** One sentence per query (recomputed, equal to the bundle's). */
  readonly statements: readonly string[];
  readonly queries: readonly PassQuery[];
  readonly queryHashes: readonly string[];
  readonly answers: readonly PassAnswer[];
  readonly datasetId: string;
  readonly epoch: number;
  readonly minGroupSize: number;
  readonly nonce: string;
  readonly chunkCount: number;
  readonly stepCircuitId: string;
  readonly finalCircuitId: string;
  readonly stepVkeyHash: string;
  readonly finalVkeyHash: string;
  readonly manifestHash: string;
  readonly operatorKey: string;
  readonly createdAt: string;
  readonly warnings: readonly string[];
}

export interface PassRejected {
  readonly valid: false;
  readonly kind: "pass";
  readonly check: RejectionCheck | "chain";
  readonly reason: string;
  readonly at?: number | "final";
}

export type PassVerifyResult = PassVerified | PassRejected;

function rejected(problem: BundleRejected): PassRejected {
  return { ...problem, kind: "pass" };
}

/** What a pass-shaped chain bundle (pass, dp-histogram) names of its circuits, and its parsed proofs. */
interface PassChain extends ParsedPassChainProofs {
  readonly bundle: {
    readonly stepCircuitId: string;
    readonly stepVkeyHash: string;
    readonly finalCircuitId: string;
    readonly finalVkeyHash: string;
    readonly manifest: { readonly circuits: readonly string[] };
  };
}

/**
 * The pinned step and final keys of a pass-shaped chain whose step circuit must be `expectedStep` (the one
 * the manifest's schema and layout determine). Shared by the pass and dp-histogram verifiers.
 */
export function pinnedPassKeys(
  parsed: PassChain,
  expectedStep: string,
  options: VerifyOptions,
  warnings: string[],
): { readonly step: PreparedVerifyingKey; readonly final: PreparedVerifyingKey } | BundleRejected {
  const { bundle } = parsed;
  if (bundle.stepCircuitId !== expectedStep) {
    return reject(
      "circuit",
      `step circuit ${bundle.stepCircuitId} is not the one of the manifest's schema and layout (${expectedStep})`,
    );
  }
  return pinnedChainKeys(
    {
      stepCircuitId: bundle.stepCircuitId,
      stepVkeyHash: bundle.stepVkeyHash,
      stepSignalCount: parsed.chunkSignals[0]?.length ?? 0,
      finalCircuitId: bundle.finalCircuitId,
      finalVkeyHash: bundle.finalVkeyHash,
      finalSignalCount: parsed.finalSignals.length,
    },
    bundle.manifest.circuits,
    options,
    warnings,
  );
}

function keysFor(parsed: ParsedPassBundle, options: VerifyOptions, warnings: string[]) {
  const { bundle, shape, schema } = parsed;
  const expected = passCircuitId(
    passShapeFor(schema, bundle.manifest.layout, {
      ...chunkQueryShape(shape.chunk),
      queries: shape.queries,
      histogramSlots: shape.histogramSlots,
      cells: shape.cells,
    }),
  );
  const keys = pinnedPassKeys(parsed, expected, options, warnings);
  if (!("step" in keys)) return rejected(keys);
  return keys;
}

function checkProofs(
  parsed: ParsedPassBundle,
  keys: { step: PreparedVerifyingKey; final: PreparedVerifyingKey },
  rng: RandomBytes | undefined,
): PassRejected | undefined {
  const { bundle } = parsed;
  const signals = checkPassChainSignals(
    {
      root: BigInt(bundle.manifest.root),
      recordCount: bundle.manifest.recordCount,
      chunkSize: bundle.manifest.layout.chunkSize,
      chunkCount: bundle.manifest.chunkCount,
      minGroupSize: bundle.minGroupSize,
      nonce: parsed.nonce,
      query: parsed.encodedQuery,
      outputs: parsed.outputs,
    },
    bundle.chunks.map((entry) => entry.publicSignals),
    bundle.final.publicSignals,
  );
  const failure = passChainProofFailure(parsed, keys, signals, rng);
  return failure === undefined ? undefined : { valid: false, kind: "pass", ...failure };
}

/**
 * Given the chain's signal check: the chunk proofs up to the first bad link (batched; the first bad proof
 * is named), then the link itself, then the final proof. Shared by the pass and dp-histogram verifiers.
 */
export function passChainProofFailure(
  parsed: PassChain,
  keys: { readonly step: PreparedVerifyingKey; readonly final: PreparedVerifyingKey },
  signals: PassChainCheck,
  rng: RandomBytes | undefined,
): { readonly check: "proof" | "chain"; readonly reason: string; readonly at: number | "final" } | undefined {
  const { bundle } = parsed;
  const limit = !signals.ok && typeof signals.at === "number" ? signals.at : parsed.chunkProofs.length;
  const items = parsed.chunkProofs
    .slice(0, limit)
    .map((proof, index) => ({ proof, signals: parsed.chunkSignals[index] as readonly bigint[] }));
  const invalid = items.length === 0 ? [] : findInvalidParsedBatchItems(keys.step, items, rng);
  if (invalid.length > 0) {
    const at = Math.min(...invalid);
    const reason = `the proof of chunk ${at} does not verify under the pinned key of ${bundle.stepCircuitId}`;
    return { check: "proof", at, reason };
  }
  if (!signals.ok) return { check: "chain", at: signals.at, reason: signals.reason };
  if (!groth16EquationHolds(keys.final, parsed.finalSignals, parsed.finalProof)) {
    const reason = `the final proof does not verify under the pinned key of ${bundle.finalCircuitId}`;
    return { check: "proof", at: "final", reason };
  }
  return undefined;
}

/** Verifies a pass bundle (object or JSON text); see the module comment. */
export function verifyPass(value: unknown, options: VerifyOptions, rng?: RandomBytes): PassVerifyResult {
  const parsed = parsePassBundle(value);
  const { operatorKey, pinned, expectedNonce } = checkOptions(options);
  const { bundle, schema } = parsed;
  if (expectedNonce !== undefined && parsed.nonce !== expectedNonce) {
    return rejected(
      reject(
        "nonce",
        `the bundle answers request nonce ${bundle.nonce}, expected ${expectedNonce} (a replay?)`,
      ),
    );
  }
  const manifestProblem = checkManifest(bundle.manifest, operatorKey, pinned);
  if (manifestProblem !== undefined) return rejected(manifestProblem);
  const warnings: string[] = [];
  const keys = keysFor(parsed, options, warnings);
  if (!("step" in keys)) return keys;
  const statements = bundle.queries.map((query, q) =>
    describePassAnswer(query, bundle.answers[q] as PassAnswer, schema, bundle.minGroupSize),
  );
  const bad = statements.findIndex((statement, q) => statement !== bundle.statements[q]);
  if (bad >= 0) {
    return rejected(
      reject(
        "statement",
        `statements[${bad}] does not say what is proven: ${JSON.stringify(statements[bad])}`,
      ),
    );
  }
  const problem = checkProofs(parsed, keys, rng);
  if (problem !== undefined) return problem;
  return {
    valid: true,
    kind: "pass",
    statements,
    queries: bundle.queries,
    queryHashes: parsed.queryHashes,
    answers: bundle.answers,
    datasetId: bundle.manifest.datasetId,
    epoch: bundle.manifest.epoch,
    minGroupSize: bundle.minGroupSize,
    nonce: bundle.nonce,
    chunkCount: bundle.chunks.length,
    stepCircuitId: bundle.stepCircuitId,
    finalCircuitId: bundle.finalCircuitId,
    stepVkeyHash: keys.step.hash,
    finalVkeyHash: keys.final.hash,
    manifestHash: manifestHash(bundle.manifest),
    operatorKey: bundle.manifest.operatorKey,
    createdAt: bundle.createdAt,
    warnings,
  };
}

/** True when `value` (a parsed object) is a pass bundle (`kind: "pass"`). */
export function isPassBundle(value: unknown): boolean {
  return typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "pass";
}
