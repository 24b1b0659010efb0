/**
 * @module prover/worker-backend
 *
 * `ProverBackend` that proves in a child process (prover-worker.mjs), so a running proof never stalls the
 * event loop that answers HTTP requests and a prover crash cannot take the service down. The parent reads
 * each circuit's zkey and wasm once, checks them against the SHA-256 pins of the keys manifest (the same
 * `PinnedArtifactCache` as `SnarkjsBackend`) and hands the bytes over IPC (advanced serialisation). If the
 * child dies (crash, out of memory, killed), every pending proof is rejected with a `ProverError` and the
 * next proof starts a fresh child. The child exits on its own when the service process disappears (IPC
 * disconnect).
 *
 * Engines: `snarkjs` (the child proves with snarkjs) or `native` (the child computes the witness with the
 * wasm generator and proves with the native C++ prover, `native-client.mjs`, loading the pin-checked zkey
 * bytes it was handed with `loadbytes` and checking the digest the prover reports). The service process
 * never runs witness calculation or proving on its event loop either way.
 *
 * Security caveats: witness errors come back as raw snarkjs/circom_runtime text and are reduced to the
 * whitelisted `sanitizeWitnessReason` before they leave this module; the witness input (private records and
 * salts) crosses to the child over the IPC pipe only; the child's stdout (where circom `log()` would print)
 * is discarded.
 */

import { type ChildProcess, fork } from "node:child_process";
import type { Groth16Proof, ProveResult, ProverBackend } from "./backend.ts";
import { ProverError, WitnessError } from "./backend.ts";
import { nativeProverStatus } from "./native-client.mjs";
import { PinnedArtifactCache, type PinnedArtifactOptions } from "./pinned-artifacts.ts";
import { sanitizeWitnessReason } from "./snarkjs-backend.ts";

export interface WorkerBackendOptions extends PinnedArtifactOptions {
  /** Niceness of the prover process (0 = as the service, up to 19); proofs then yield CPU to requests. */
  readonly nice?: number;
  /** What proves in the child: snarkjs (default) or the native prover (must be built). */
  readonly engine?: "snarkjs" | "native";
}

interface Pending {
  readonly circuitId: string;
  resolve(result: ProveResult): void;
  reject(error: Error): void;
}

type WorkerMessage =
  | {
      type: "proved";
      id: number;
      proof: Groth16Proof;
      publicSignals: string[];
      timings: { witnessMs: number; proveMs: number };
    }
  | { type: "error"; id: number; phase: "load" | "witness" | "prove"; message: string };

const WORKER_URL = new URL("./prover-worker.mjs", import.meta.url);

export class WorkerProverBackend implements ProverBackend {
  readonly name: "snarkjs-worker" | "native-worker";
  /** Proofs produced and worker threads started (for tests and metrics). */
  readonly stats = { proofs: 0, workersStarted: 0 };
  private readonly artifacts: PinnedArtifactCache;
  private readonly pending = new Map<number, Pending>();
  private worker: ChildProcess | undefined;
  private loadedInWorker = new Set<string>();
  private nextId = 1;
  private closed = false;
  /** argv of the child after the niceness: the engine and, for native, the prover executable. */
  private readonly engineArgs: string[];

  constructor(private readonly options: WorkerBackendOptions) {
    this.artifacts = new PinnedArtifactCache(options, "WorkerProverBackend");
    if (options.engine === "native") {
      const status = nativeProverStatus();
      if (!status.available) throw new ProverError(status.reason);
      this.engineArgs = ["native", status.path];
      this.name = "native-worker";
    } else {
      this.engineArgs = ["snarkjs"];
      this.name = "snarkjs-worker";
    }
  }

  /** Process id of the current prover process (undefined before the first proof or after a crash). */
  get pid(): number | undefined {
    return this.worker?.pid;
  }

  /** Reads and pin-checks a circuit's artifacts (once) and loads them into the worker. */
  async load(circuitId: string): Promise<void> {
    await this.ensureLoaded(circuitId);
  }

  async prove(circuitId: string, witnessInput: Record<string, unknown>): Promise<ProveResult> {
    if (witnessInput === null || typeof witnessInput !== "object" || Array.isArray(witnessInput)) {
      throw new TypeError("witnessInput must be a plain object of input signals");
    }
    const { worker, nPublic } = await this.ensureLoaded(circuitId);
    const id = this.nextId++;
    const result = await new Promise<ProveResult>((resolve, reject) => {
      this.pending.set(id, { circuitId, resolve, reject });
      worker.send({ type: "prove", id, circuitId, input: witnessInput });
    });
    if (result.publicSignals.length !== nPublic) {
      throw new ProverError(
        `circuit ${circuitId}: ${result.publicSignals.length} public signals, pinned ${nPublic}`,
      );
    }
    this.stats.proofs++;
    return result;
  }

  /** Rejects pending proofs and stops the worker (and its curve threads). */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    this.artifacts.clear();
    this.failPending(new ProverError("prover backend closed"));
    if (worker && worker.exitCode === null) {
      const exited = new Promise((resolve) => worker.once("exit", resolve));
      worker.kill("SIGKILL");
      await exited;
    }
  }

  private async ensureLoaded(circuitId: string): Promise<{ worker: ChildProcess; nPublic: number }> {
    if (this.closed) throw new ProverError("prover backend closed");
    const bytes = await this.artifacts.get(circuitId);
    const worker = this.currentWorker();
    if (!this.loadedInWorker.has(circuitId)) {
      // Copies: the service keeps the bytes for a restarted child.
      worker.send({ type: "load", circuitId, zkey: bytes.zkey, wasm: bytes.wasm });
      this.loadedInWorker.add(circuitId);
    }
    return { worker, nPublic: bytes.nPublic };
  }

  private currentWorker(): ChildProcess {
    if (this.worker) return this.worker;
    const worker = fork(WORKER_URL, [String(this.options.nice ?? 0), ...this.engineArgs], {
      serialization: "advanced",
      execArgv: [],
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    this.stats.workersStarted++;
    this.loadedInWorker = new Set();
    worker.on("message", (message: WorkerMessage) => this.onMessage(message));
    const onDeath = (reason: string) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.failPending(new ProverError(`prover worker stopped (${reason})`));
    };
    worker.on("error", (error) => onDeath(error.name));
    worker.on("exit", (code) => onDeath(`exit code ${code}`));
    this.worker = worker;
    return worker;
  }

  private onMessage(message: WorkerMessage): void {
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    if (message.type === "proved") {
      pending.resolve({
        proof: message.proof,
        publicSignals: message.publicSignals,
        timings: message.timings,
      });
    } else if (message.phase === "witness") {
      pending.reject(new WitnessError(pending.circuitId, sanitizeWitnessReason(new Error(message.message))));
    } else {
      // Prover messages carry no witness values, but keep them out of responses all the same.
      pending.reject(new ProverError(`groth16 ${message.phase} failed for circuit ${pending.circuitId}`));
    }
  }

  private failPending(error: Error): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const item of pending) item.reject(error);
  }
}
