/**
 * @module prover/native-backend
 *
 * `ProverBackend` named "native": witnesses are computed by circom's C++ witness generator when one was
 * built for the pinned compile entry (native-witness.ts), else by the wasm one (snarkjs `wtns.calculate`,
 * pin-checked wasm held in memory; one line per circuit says which), and proved by the native C++ Groth16 prover
 * (native/prover, a long-lived `zktally-prover serve` child, see native-client.mjs). The child reads each
 * zkey once and reports the SHA-256 of the bytes it holds, which must equal the keys-manifest pin before
 * any proof is made with it; proofs are snarkjs-compatible JSON and verify with snarkjs and the SDK.
 *
 * Security caveats: witness errors are reduced to `sanitizeWitnessReason`; the witness crosses to the child
 * over a pipe only. A key that fails its pin is unloaded from the child at once. Witness calculation runs
 * on the caller's thread (as in `SnarkjsBackend`); the service proves in its prover process instead.
 */
import { assertDigest } from "../setup/keys-manifest.ts";
import { assertCircuitId } from "../setup/paths.ts";
import { type ProveResult, type ProverBackend, ProverError } from "./backend.ts";
import { NativeProverError, NativeProverProcess, nativeProverStatus } from "./native-client.mjs";
import {
  circomInputJson,
  locateWitnessGenerator,
  runWitnessGenerator,
  type WitnessEngine,
  witnessEngineLine,
} from "./native-witness.ts";
import {
  type ArtifactResolver,
  locatePinnedArtifacts,
  readPinnedWasm,
  setupCacheArtifacts,
} from "./pinned-artifacts.ts";
import { assertWitnessInput, calculateWitness } from "./snarkjs-backend.ts";

export interface NativeBackendOptions {
  /** Directory holding the keys manifest the artifacts are checked against. */
  readonly keysDir: string;
  /** Cache root used by the default resolver; default `ZKTALLY_BUILD_DIR` or `<repo>/build`. */
  readonly buildDir?: string;
  /** Overrides where artifacts are found (default: the setup cache). */
  readonly resolveArtifacts?: ArtifactResolver;
  /** Prover executable (default: `ZKTALLY_NATIVE_PROVER` or the install-time build). */
  readonly binaryPath?: string;
  /** Niceness of the prover child (0..19). */
  readonly nice?: number;
  /** Threads the prover uses (default: all cores). */
  readonly threads?: number;
  /** Use circom's C++ witness generator when one is built (default true); false: always wasm. */
  readonly nativeWitness?: boolean;
  /** Where the one line per circuit saying which witness generator it uses goes (default stderr). */
  readonly log?: (line: string) => void;
}

interface LoadedCircuit {
  readonly wasm: Uint8Array;
  /** The C++ witness generator, when built for this circuit's pinned compile entry. */
  readonly witnessBinary?: string;
  readonly zkeyPath: string;
  readonly zkeySha256: string;
  readonly nPublic: number;
}

/** Native prover with per-circuit keys loaded once into the prover child. */
export class NativeBackend implements ProverBackend {
  readonly name = "native";
  readonly stats = { loads: 0, proofs: 0 };
  /** The witness generator each loaded circuit uses. */
  readonly witnessEngines = new Map<string, WitnessEngine>();
  /** Witnesses computed by each generator (a failed C++ run falls back to wasm). */
  readonly witnessCounts = { native: 0, wasm: 0 };
  private readonly circuits = new Map<string, Promise<LoadedCircuit>>();
  private readonly resolveArtifacts: ArtifactResolver;
  private readonly process: NativeProverProcess;
  private closed = false;

  constructor(private readonly options: NativeBackendOptions) {
    if (typeof options?.keysDir !== "string" || options.keysDir === "") {
      throw new TypeError("NativeBackend: options.keysDir must be a non-empty path");
    }
    const status = nativeProverStatus(options.binaryPath);
    if (!status.available) throw new ProverError(status.reason);
    this.resolveArtifacts = options.resolveArtifacts ?? setupCacheArtifacts(options.buildDir);
    this.process = new NativeProverProcess({
      path: status.path,
      nice: options.nice,
      threads: options.threads,
    });
  }

  /** Process id of the prover child (undefined before the first load or after a crash). */
  get pid(): number | undefined {
    return this.process.pid;
  }

  /** Loads (once) and pin-checks a circuit's wasm and zkey. */
  async load(circuitId: string): Promise<void> {
    await this.ready(circuitId);
  }

  async prove(circuitId: string, witnessInput: Record<string, unknown>): Promise<ProveResult> {
    assertWitnessInput(witnessInput);
    const circuit = await this.ready(circuitId);
    const witnessStart = performance.now();
    const witness = await this.witness(circuitId, circuit, witnessInput);
    const proveStart = performance.now();
    // The child may have been restarted since `ready` (crash): load the key again, pin-checked.
    if (!this.process.loaded.has(circuitId)) await this.loadIntoChild(circuitId, circuit);
    let reply: Awaited<ReturnType<NativeProverProcess["prove"]>>;
    try {
      reply = await this.process.prove(circuitId, witness);
    } catch (err) {
      throw new ProverError(
        `native groth16 prove failed for circuit ${circuitId}: ${(err as Error).message}`,
      );
    }
    const done = performance.now();
    if (reply.publicSignals.length !== circuit.nPublic) {
      throw new ProverError(
        `circuit ${circuitId}: ${reply.publicSignals.length} public signals, pinned ${circuit.nPublic}`,
      );
    }
    this.stats.proofs++;
    return {
      proof: reply.proof,
      publicSignals: reply.publicSignals,
      timings: { witnessMs: proveStart - witnessStart, proveMs: done - proveStart },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.circuits.clear();
    await this.process.close();
  }

  /** The C++ generator's witness when it has one and succeeds, else the wasm generator's (or its error). */
  private async witness(
    circuitId: string,
    circuit: LoadedCircuit,
    input: Record<string, unknown>,
  ): Promise<Uint8Array> {
    const json = circuit.witnessBinary ? circomInputJson(input) : undefined;
    if (circuit.witnessBinary && json !== undefined) {
      const native = await runWitnessGenerator(circuit.witnessBinary, json).catch(() => undefined);
      if (native) {
        this.witnessCounts.native++;
        return native;
      }
    }
    this.witnessCounts.wasm++;
    const witness = await calculateWitness(circuitId, circuit.wasm, input);
    if (!witness.data) throw new ProverError(`circuit ${circuitId}: witness generator returned no witness`);
    return witness.data;
  }

  private ready(circuitId: string): Promise<LoadedCircuit> {
    if (this.closed) return Promise.reject(new ProverError("NativeBackend is closed"));
    assertCircuitId(circuitId);
    let circuit = this.circuits.get(circuitId);
    if (!circuit) {
      circuit = this.readPinned(circuitId);
      this.circuits.set(circuitId, circuit);
      circuit.catch(() => this.circuits.delete(circuitId));
    }
    return circuit;
  }

  private async readPinned(circuitId: string): Promise<LoadedCircuit> {
    const located = await locatePinnedArtifacts(this.options.keysDir, circuitId, this.resolveArtifacts);
    const wasm = await readPinnedWasm(circuitId, located);
    const { entry, zkeyPath } = located;
    const witnessBinary = await this.witnessGenerator(circuitId, located.wasmPath, entry.wasmSha256);
    const circuit = { wasm, witnessBinary, zkeyPath, zkeySha256: entry.zkeySha256, nPublic: entry.nPublic };
    await this.loadIntoChild(circuitId, circuit);
    this.stats.loads++;
    return circuit;
  }

  /** The C++ witness generator's binary when usable; logs the one line saying which generator is used. */
  private async witnessGenerator(
    circuitId: string,
    wasmPath: string,
    wasmSha256: string,
  ): Promise<string | undefined> {
    const found =
      this.options.nativeWitness === false
        ? { reason: "C++ generator turned off" }
        : await locateWitnessGenerator(circuitId, wasmPath, wasmSha256);
    const engine: WitnessEngine = "binaryPath" in found ? "native" : "wasm";
    if (this.witnessEngines.get(circuitId) !== engine) {
      const log = this.options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
      log(witnessEngineLine(circuitId, engine, "reason" in found ? found.reason : undefined));
    }
    this.witnessEngines.set(circuitId, engine);
    return "binaryPath" in found ? found.binaryPath : undefined;
  }

  /** Loads the zkey into the child and checks the digest of the bytes it holds against the pin. */
  private async loadIntoChild(circuitId: string, circuit: LoadedCircuit): Promise<void> {
    let info: Awaited<ReturnType<NativeProverProcess["load"]>>;
    try {
      info = await this.process.load(circuitId, circuit.zkeyPath);
    } catch (err) {
      const why = err instanceof NativeProverError ? err.message : String(err);
      throw new ProverError(`native prover cannot load the key of circuit ${circuitId}: ${why}`);
    }
    try {
      assertDigest(circuitId, "zkey", circuit.zkeySha256, info.sha256);
      if (info.nPublic !== circuit.nPublic) {
        throw new ProverError(
          `circuit ${circuitId}: key has ${info.nPublic} public signals, pinned ${circuit.nPublic}`,
        );
      }
    } catch (err) {
      await this.process.unload(circuitId).catch(() => undefined);
      throw err;
    }
  }
}

/** Creates a native backend; throws `ProverError` when the executable is not built. */
export function createNativeBackend(options: NativeBackendOptions): NativeBackend {
  return new NativeBackend(options);
}
