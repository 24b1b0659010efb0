/**
 * @module prover/snarkjs-backend
 *
 * `ProverBackend` on snarkjs: for each circuit the zkey and witness-generator wasm are read ONCE into memory,
 * checked against the SHA-256 pins of the keys manifest, and then handed to `wtns.calculate` and
 * `groth16.prove` as in-memory fastfile objects on every proof (no per-proof disk reads, no temp files).
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

import { readFile } from "node:fs/promises";
import * as snarkjs from "snarkjs";
import { assertDigest, type KeysManifest, type PinnedCircuit, pinnedEntry } from "../setup/keys-manifest.ts";
import {
  assertCircuitId,
  compiledArtifactPaths,
  compiledCircuitDir,
  zkeyArtifactPaths,
  zkeyDir,
} from "../setup/paths.ts";
import { terminateCurveWorkers } from "../setup/ptau.ts";
import { sha256HexNative } from "../storage/file-digest.ts";
import {
  type Groth16Proof,
  type ProveResult,
  type ProverBackend,
  ProverError,
  WitnessError,
} from "./backend.ts";

/** Where a circuit's zkey and wasm live on disk. */
export interface CircuitArtifacts {
  readonly zkeyPath: string;
  readonly wasmPath: string;
}

/** Maps a pinned circuit to its artifact files. */
export type ArtifactResolver = (
  id: string,
  entry: PinnedCircuit,
  manifest: KeysManifest,
) => CircuitArtifacts | Promise<CircuitArtifacts>;

export interface SnarkjsBackendOptions {
  /** Directory holding the keys manifest the artifacts are checked against. */
  readonly keysDir: string;
  /** Cache root used by the default resolver; default `ZKTALLY_BUILD_DIR` or `<repo>/build`. */
  readonly buildDir?: string;
  /** Overrides where artifacts are found; default: the setup cache paths derived from the manifest entry. */
  readonly resolveArtifacts?: ArtifactResolver;
}

/** Counters exposed for tests and metrics. */
export interface SnarkjsBackendStats {
  /** Circuits read from disk and hash-checked (once per circuit unless a load failed). */
  loads: number;
  /** Proofs produced. */
  proofs: number;
}

interface LoadedCircuit {
  readonly zkey: Uint8Array;
  readonly wasm: Uint8Array;
  readonly nPublic: number;
}

/** The default artifact locations: the compile cache and the phase-2 cache of `src/setup`. */
export function setupCacheArtifacts(buildDir?: string): ArtifactResolver {
  return (id, entry, manifest) => ({
    zkeyPath: zkeyArtifactPaths(zkeyDir(id, entry.sourceHash, manifest.ptau.sha256, buildDir)).zkey,
    wasmPath: compiledArtifactPaths(compiledCircuitDir(id, entry.sourceHash, buildDir), id).wasm,
  });
}

/** snarkjs prover with per-circuit in-memory keys. */
export class SnarkjsBackend implements ProverBackend {
  readonly name = "snarkjs";
  readonly stats: SnarkjsBackendStats = { loads: 0, proofs: 0 };
  private readonly circuits = new Map<string, Promise<LoadedCircuit>>();
  private readonly resolveArtifacts: ArtifactResolver;
  private closed = false;

  constructor(private readonly options: SnarkjsBackendOptions) {
    if (typeof options?.keysDir !== "string" || options.keysDir === "") {
      throw new TypeError("SnarkjsBackend: options.keysDir must be a non-empty path");
    }
    this.resolveArtifacts = options.resolveArtifacts ?? setupCacheArtifacts(options.buildDir);
  }

  /** Loads (once) and pin-checks the zkey and wasm of a circuit; concurrent callers share one load. */
  load(circuitId: string): Promise<void> {
    return this.loaded(circuitId).then(() => undefined);
  }

  async prove(circuitId: string, witnessInput: Record<string, unknown>): Promise<ProveResult> {
    if (witnessInput === null || typeof witnessInput !== "object" || Array.isArray(witnessInput)) {
      throw new TypeError("witnessInput must be a plain object of input signals");
    }
    const circuit = await this.loaded(circuitId);
    const witnessStart = performance.now();
    const witness: { type: "mem"; data?: Uint8Array } = { type: "mem" };
    try {
      await snarkjs.wtns.calculate(witnessInput, { type: "mem", data: circuit.wasm }, witness);
    } catch (err) {
      throw new WitnessError(circuitId, sanitizeWitnessReason(err));
    }
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
    this.stats.proofs++;
    return { ...result, timings: { witnessMs: proveStart - witnessStart, proveMs: done - proveStart } };
  }

  /** Drops the in-memory keys and stops the shared curve worker threads (see module caveat). */
  async close(): Promise<void> {
    this.closed = true;
    this.circuits.clear();
    await terminateCurveWorkers();
  }

  private loaded(circuitId: string): Promise<LoadedCircuit> {
    if (this.closed) return Promise.reject(new ProverError("SnarkjsBackend is closed"));
    assertCircuitId(circuitId);
    let circuit = this.circuits.get(circuitId);
    if (!circuit) {
      circuit = this.readPinned(circuitId);
      this.circuits.set(circuitId, circuit);
      // A failed load (missing file, pin mismatch) must not stick: the next call retries.
      circuit.catch(() => this.circuits.delete(circuitId));
    }
    return circuit;
  }

  private async readPinned(circuitId: string): Promise<LoadedCircuit> {
    const { manifest, entry } = await pinnedEntry(this.options.keysDir, circuitId);
    const { zkeyPath, wasmPath } = await this.resolveArtifacts(circuitId, entry, manifest);
    const [zkey, wasm] = await Promise.all([readPlainBytes(zkeyPath), readPlainBytes(wasmPath)]);
    assertDigest(circuitId, "zkey", entry.zkeySha256, sha256HexNative(zkey));
    assertDigest(circuitId, "wasm", entry.wasmSha256, sha256HexNative(wasm));
    this.stats.loads++;
    return { zkey, wasm, nPublic: entry.nPublic };
  }
}

/** Creates a snarkjs backend (see `SnarkjsBackendOptions`). */
export function createSnarkjsBackend(options: SnarkjsBackendOptions): SnarkjsBackend {
  return new SnarkjsBackend(options);
}

/** A plain Uint8Array over the file bytes (Buffer#slice shares memory; fastfile expects copying slices). */
async function readPlainBytes(filePath: string): Promise<Uint8Array> {
  const buf = await readFile(filePath);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
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

export const BN254_R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

function isCanonicalFieldElement(value: unknown): boolean {
  return typeof value === "string" && /^(0|[1-9][0-9]{0,77})$/.test(value) && BigInt(value) < BN254_R;
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
  if (!publicSignals.every(isCanonicalFieldElement)) return false;
  try {
    return (await snarkjs.groth16.verify(vkey, [...publicSignals], proof)) === true;
  } catch {
    return false;
  }
}
