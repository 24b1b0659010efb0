/**
 * @module prover/prover-choice
 *
 * The user-facing prover choice (`--prover snarkjs|native`, `ZKTALLY_PROVER`, the service's `jobs.prover`):
 * `native` by default when the native prover executable is built, snarkjs otherwise. When native is wanted
 * (by default or by name) but not built, snarkjs is used and ONE line says so, through the caller's logger.
 * `proverBackendName` maps the choice to the backend names of `backends.ts` (a child-process backend for the
 * service, an in-process one for CLIs).
 */
import { type NativeProverStatus, nativeProverStatus } from "./native-client.mjs";

export const PROVER_CHOICES = ["native", "snarkjs"] as const;
export type ProverChoice = (typeof PROVER_CHOICES)[number];

/** The line printed when native proving was wanted but the executable is missing. */
export function fallbackLine(reason: string): string {
  return `zktally: ${reason}; proving with snarkjs`;
}

/**
 * Resolves `requested` (undefined or "" = default) to the prover that will run. Throws `RangeError` for
 * an unknown name; calls `log` once with `fallbackLine` when native is unavailable.
 */
export function resolveProverChoice(
  requested: string | undefined,
  log: (line: string) => void,
  status: NativeProverStatus = nativeProverStatus(),
): ProverChoice {
  const wanted = requested === undefined || requested === "" ? "native" : requested;
  if (!(PROVER_CHOICES as readonly string[]).includes(wanted)) {
    throw new RangeError(
      `unknown prover ${JSON.stringify(requested)} (expected ${PROVER_CHOICES.join(" or ")})`,
    );
  }
  if (wanted === "snarkjs") return "snarkjs";
  if (status.available) return "native";
  log(fallbackLine(status.reason));
  return "snarkjs";
}

/** Backend name in `PROVER_BACKENDS` for a choice: `inProcess` for CLIs, a prover process otherwise. */
export function proverBackendName(choice: ProverChoice, where: "in-process" | "child-process") {
  if (choice === "native") return where === "in-process" ? "native" : "native-worker";
  return where === "in-process" ? "snarkjs" : "snarkjs-worker";
}
