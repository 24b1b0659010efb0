/**
 * @module prover/snarkjs-backend
 *
 * `ProverBackend` on snarkjs, in process: for each circuit the zkey and witness-generator wasm are read ONCE
 * into memory and checked against the SHA-256 pins of the keys manifest (`pinned-artifacts.ts`), and then
 * handed to `wtns.calculate` and `groth16.prove` as in-memory fastfile objects on every proof (no per-proof
 * disk reads, no temp files).
 * Also `verifyWithSnarkjs`, the interim snarkjs-based proof check.
 *
 * Security caveats:
 * - Witness errors are re-thrown as `WitnessError` with a whitelisted reason only (template/line or input
 *   signal name). circom_runtime itself still prints `ERROR: <code> <template/line>` to the console on a
 *   failed assert, and any circom `log()` in a circuit prints values to stdout: production circuits must not
 *   call `log()`.
 * - `close()` terminates the process-wide BN254 curve worker threads that snarkjs shares between all callers;
 *   call it only when no other snarkjs operation is running in the process.
 * - `verifyWithSnarkjs` checks signal count and canonical decimal form before calling snarkjs (which checks
 *   neither the count nor the G2 subgroup); the project's own verifier remains the authority.
 */

import * as snarkjs from "snarkjs";
import { isFieldElementString } from "../core/field.ts";
import { terminateCurveWorkers } from "../setup/ptau.ts";
import {
  type Groth16Proof,
  type ProveResult,
  type ProverBackend,
  ProverError,
  WitnessError,
} from "./backend.ts";
import { PinnedArtifactCache, type PinnedArtifactOptions, type PinnedArtifacts } from "./pinned-artifacts.ts";

export type SnarkjsBackendOptions = PinnedArtifactOptions;

/** Counters exposed for tests and metrics. */
export interface SnarkjsBackendStats {
  /** Circuits read from disk and hash-checked (once per circuit unless a load failed). */
  loads: number;
  /** Proofs produced. */
  proofs: number;
}

/** snarkjs prover with per-circuit in-memory keys. */
export class SnarkjsBackend implements ProverBackend {
  readonly name = "snarkjs";
  private readonly artifacts: PinnedArtifactCache;
  private proofs = 0;
  private closed = false;

  constructor(options: SnarkjsBackendOptions) {
    this.artifacts = new PinnedArtifactCache(options, "SnarkjsBackend");
  }

  get stats(): SnarkjsBackendStats {
    return { loads: this.artifacts.loads, proofs: this.proofs };
  }

  /** Loads (once) and pin-checks the zkey and wasm of a circuit; concurrent callers share one load. */
  load(circuitId: string): Promise<void> {
    return this.loaded(circuitId).then(() => undefined);
  }

  async prove(circuitId: string, witnessInput: Record<string, unknown>): Promise<ProveResult> {
    assertWitnessInput(witnessInput);
    const circuit = await this.loaded(circuitId);
    const witnessStart = performance.now();
    const witness = await calculateWitness(circuitId, circuit.wasm, witnessInput);
    const proveStart = performance.now();
    let result: { proof: Groth16Proof; publicSignals: string[] };
    try {
      result = await snarkjs.groth16.prove({ type: "mem", data: circuit.zkey }, witness);
    } catch (err) {
      throw new ProverError(`groth16 prove failed for circuit ${circuitId}: ${(err as Error).message}`);
    }
    const done = performance.now();
    if (result.publicSignals.length !== circuit.nPublic) {
      throw new ProverError(
        `circuit ${circuitId}: ${result.publicSignals.length} public signals, pinned ${circuit.nPublic}`,
      );
    }
    this.proofs++;
    return { ...result, timings: { witnessMs: proveStart - witnessStart, proveMs: done - proveStart } };
  }

  /** Drops the in-memory keys and stops the shared curve worker threads (see module caveat). */
  async close(): Promise<void> {
    this.closed = true;
    this.artifacts.clear();
    await terminateCurveWorkers();
  }

  private loaded(circuitId: string): Promise<PinnedArtifacts> {
    if (this.closed) return Promise.reject(new ProverError("SnarkjsBackend is closed"));
    return this.artifacts.get(circuitId);
  }
}

/** Creates a snarkjs backend (see `SnarkjsBackendOptions`). */
export function createSnarkjsBackend(options: SnarkjsBackendOptions): SnarkjsBackend {
  return new SnarkjsBackend(options);
}

/** Entry check shared by the backends: the witness input must be a plain object of input signals. */
export function assertWitnessInput(witnessInput: unknown): asserts witnessInput is Record<string, unknown> {
  if (witnessInput === null || typeof witnessInput !== "object" || Array.isArray(witnessInput)) {
    throw new TypeError("witnessInput must be a plain object of input signals");
  }
}

/** Runs circom's wasm witness generator in memory; a failure becomes a `WitnessError` with a sanitized reason. */
export async function calculateWitness(
  circuitId: string,
  wasm: Uint8Array,
  witnessInput: Record<string, unknown>,
): Promise<{ type: "mem"; data?: Uint8Array }> {
  const witness: { type: "mem"; data?: Uint8Array } = { type: "mem" };
  try {
    await snarkjs.wtns.calculate(witnessInput, { type: "mem", data: wasm }, witness);
  } catch (err) {
    throw new WitnessError(circuitId, sanitizeWitnessReason(err));
  }
  return witness;
}

const RUNTIME_FAILURE =
  /^(?:Error: )?(Assert Failed|Signal not found|Too many signals set|Signal already set|Not enough memory|Input signal array access exceeds the size|Unknown error)\./;
const SIGNAL_NAME = "[A-Za-z_$][A-Za-z0-9_$.\\[\\]]{0,63}";
const INPUT_PROBLEMS = [
  new RegExp(`Signal ${SIGNAL_NAME} is not an input of the circuit\\.`),
  new RegExp(`(Not enough|Too many) values for input signal ${SIGNAL_NAME}`),
  /Not all inputs have been set\. Only \d+ out of \d+/,
];

/**
 * Reduces a witness-generator error to whitelisted fragments: the circom_runtime failure kind, the
 * `Error in template T line: N` locations, and input-shape problems naming a signal. Anything else (for
 * instance a BigInt conversion error quoting the offending input) becomes a generic reason.
 */
export function sanitizeWitnessReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const parts: string[] = [];
  const failure = RUNTIME_FAILURE.exec(message);
  if (failure) parts.push(`${failure[1]}.`);
  for (const m of message.matchAll(/Error in template ([A-Za-z0-9_$]{1,100}) line: (\d{1,9})/g)) {
    parts.push(`Error in template ${m[1]} line: ${m[2]}`);
  }
  for (const pattern of INPUT_PROBLEMS) {
    const m = pattern.exec(message);
    if (m) parts.push(m[0]);
  }
  return parts.length > 0 ? parts.join(" ") : "witness generator rejected the input (details withheld)";
}

/**
 * Interim Groth16 check with snarkjs. Returns false (never throws) for a wrong proof, a signal count that
 * differs from `vkey.nPublic`, or any signal that is not a canonical decimal field element.
 */
export async function verifyWithSnarkjs(
  vkey: snarkjs.Groth16VerificationKey,
  publicSignals: readonly string[],
  proof: Groth16Proof,
): Promise<boolean> {
  if (!vkey || !Array.isArray(publicSignals) || publicSignals.length !== vkey.nPublic) return false;
  if (!publicSignals.every(isFieldElementString)) return false;
  try {
    return (await snarkjs.groth16.verify(vkey, [...publicSignals], proof)) === true;
  } catch {
    return false;
  }
}
