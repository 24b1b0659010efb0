/**
 * @module prover/backends
 *
 * The one place where a `ProverBackend` is chosen by name. Every backend proves with the artifacts of
 * `pinned-artifacts.ts` (read once, checked against the keys manifest); callers (the service, CLIs, benches)
 * pick a name and never construct a backend themselves. A new backend adds its name and factory to
 * `PROVER_BACKENDS`.
 */
import type { ProverBackend } from "./backend.ts";
import { NativeBackend } from "./native-backend.ts";
import type { PinnedArtifactOptions } from "./pinned-artifacts.ts";
import { SnarkjsBackend } from "./snarkjs-backend.ts";
import { WorkerProverBackend } from "./worker-backend.ts";

export interface ProverBackendOptions extends PinnedArtifactOptions {
  /** Niceness of a separate prover process (0..19), for backends that run one; ignored by the others. */
  readonly nice?: number;
}

/** Backend factories by name (`prover-choice.ts` maps the user's `--prover` choice to one of them). */
export const PROVER_BACKENDS = {
  /** snarkjs in a prover process: proofs never stall the caller's event loop. */
  "snarkjs-worker": (options: ProverBackendOptions): ProverBackend =>
    new WorkerProverBackend({ ...options, engine: "snarkjs" }),
  /** The native C++ prover behind a prover process (wasm witness there too; throws when not built). */
  "native-worker": (options: ProverBackendOptions): ProverBackend =>
    new WorkerProverBackend({ ...options, engine: "native" }),
  /** snarkjs in this process (CLIs, tests). */
  snarkjs: (options: ProverBackendOptions): ProverBackend => new SnarkjsBackend(options),
  /** The native C++ prover, witnesses computed in this process (throws `ProverError` when not built). */
  native: (options: ProverBackendOptions): ProverBackend => new NativeBackend(options),
} as const satisfies Record<string, (options: ProverBackendOptions) => ProverBackend>;

export type ProverBackendName = keyof typeof PROVER_BACKENDS;

/** Creates the backend called `name`; throws `RangeError` naming the known backends for any other name. */
export function createProverBackend(name: string, options: ProverBackendOptions): ProverBackend {
  if (!Object.hasOwn(PROVER_BACKENDS, name)) {
    throw new RangeError(
      `unknown prover backend ${JSON.stringify(name)} (known: ${Object.keys(PROVER_BACKENDS).join(", ")})`,
    );
  }
  return PROVER_BACKENDS[name as ProverBackendName](options);
}
