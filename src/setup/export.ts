/**
 * @module setup/export
 *
 * Exports for verifiers outside zktally:
 * - `solidityVerifier(vkey)`: the Groth16 verifier contract snarkjs generates (`zkey export solidityverifier`),
 *   rendered from snarkjs 0.7.6's own template (`node_modules/snarkjs/templates/verifier_groth16.sol.ejs`)
 *   with snarkjs's `ejs`, but from a *pinned* verification key instead of a zkey, so the contract embeds
 *   exactly the key of `keys/manifest.json`. Byte-identical to snarkjs's output for the same key.
 * - `solidityCalldata(proof, publicSignals)`: the arguments of `verifyProof(uint[2] a, uint[2][2] b,
 *   uint[2] c, uint[n] input)`: 8 proof words (G2 coordinates in the EVM order c1, c0) plus the public
 *   signals, as snarkjs's `exportSolidityCallData` string, as words, or ABI-encoded with the selector.
 *
 * Security caveats: the proof and signals are parsed strictly first (canonical decimals, signals < r, points on
 * the curve and in their subgroups, no point at infinity), so the export never launders malformed input into
 * calldata. The exported contract is snarkjs's; zktally's own verifier additionally checks the statement
 * (manifest signature, recomputed public signals), which an on-chain caller must do itself. Keys without a
 * phase-2 contribution (delta = gamma) are refused.
 */

import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { keccak_256 } from "@noble/hashes/sha3.js";
import type { Groth16VerificationKey } from "snarkjs";
import { parseBundle } from "../verifier/bundle.ts";
import { VerifierInputError } from "../verifier/errors.ts";
import { parseProof, parsePublicSignals, parseVerifyingKey, type SnarkjsProof } from "../verifier/parse.ts";
import { loadPinnedVkey } from "./keys-manifest.ts";
import { assertPhase2Contributed } from "./phase2.ts";

const require = createRequire(import.meta.url);
/** snarkjs's CommonJS entry (`build/main.cjs`): its package root holds `templates/`, its deps hold `ejs`. */
const SNARKJS_ENTRY = require.resolve("snarkjs");
const snarkjsRequire = createRequire(SNARKJS_ENTRY);

/** Path of the Groth16 Solidity template shipped with snarkjs. */
export const GROTH16_TEMPLATE_PATH = path.join(
  path.dirname(SNARKJS_ENTRY),
  "..",
  "templates",
  "verifier_groth16.sol.ejs",
);

/** The Groth16 Solidity template snarkjs uses (`zkey export solidityverifier`). */
export function groth16Template(): Promise<string> {
  return readFile(GROTH16_TEMPLATE_PATH, "utf8");
}

/**
 * The Solidity verifier contract for a verification key. The key is parsed strictly (so nothing but
 * canonical field elements reaches the template) and must show a phase-2 contribution.
 */
export async function solidityVerifier(vkey: Groth16VerificationKey): Promise<string> {
  parseVerifyingKey(vkey);
  assertPhase2Contributed(vkey);
  const ejs = snarkjsRequire("ejs") as { render(template: string, data: object): string };
  return ejs.render(await groth16Template(), vkey);
}

/** The Solidity verifier for a pinned circuit (`<keysDir>/<id>.vkey.json`, checked against the manifest). */
export async function pinnedSolidityVerifier(keysDir: string, circuitId: string): Promise<string> {
  return solidityVerifier(await loadPinnedVkey(keysDir, circuitId));
}

/** `verifyProof` arguments as 0x-prefixed 32-byte hex words. */
export interface SolidityCalldata {
  readonly a: readonly [string, string];
  readonly b: readonly [readonly [string, string], readonly [string, string]];
  readonly c: readonly [string, string];
  readonly input: readonly string[];
}

/** A 0x-prefixed, 64-digit hex word (what snarkjs's `p256` writes). */
function word(value: bigint | string): string {
  return `0x${BigInt(value).toString(16).padStart(64, "0")}`;
}

/**
 * Calldata for `verifyProof` from a snarkjs proof and its public signals. With `expectedSignals`, the
 * signal count must match (e.g. a pinned key's nPublic); otherwise any count of valid signals is accepted.
 */
export function solidityCalldata(
  proof: unknown,
  publicSignals: unknown,
  expectedSignals?: number,
): SolidityCalldata {
  parseProof(proof, "proof");
  const count = expectedSignals ?? (Array.isArray(publicSignals) ? publicSignals.length : 0);
  const signals = parsePublicSignals(publicSignals, count, "publicSignals");
  const p = proof as SnarkjsProof;
  return {
    a: [word(p.pi_a[0]), word(p.pi_a[1])],
    b: [
      [word(p.pi_b[0][1]), word(p.pi_b[0][0])],
      [word(p.pi_b[1][1]), word(p.pi_b[1][0])],
    ],
    c: [word(p.pi_c[0]), word(p.pi_c[1])],
    input: signals.map(word),
  };
}

/** The 8 proof words in argument order: a0 a1 b00 b01 b10 b11 c0 c1. */
export function proofWords(calldata: SolidityCalldata): string[] {
  const { a, b, c } = calldata;
  return [...a, ...b[0], ...b[1], ...c];
}

/** Exactly the string snarkjs's `groth16.exportSolidityCallData` returns. */
export function snarkjsCalldataString(calldata: SolidityCalldata): string {
  const q = (w: string) => `"${w}"`;
  const { a, b, c, input } = calldata;
  return (
    `[${q(a[0])}, ${q(a[1])}],` +
    `[[${q(b[0][0])}, ${q(b[0][1])}],[${q(b[1][0])}, ${q(b[1][1])}]],` +
    `[${q(c[0])}, ${q(c[1])}],` +
    `[${input.map(q).join(",")}]`
  );
}

/** The Solidity signature of snarkjs's verifier for `n` public signals. */
export function verifyProofSignature(n: number): string {
  return `verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[${n}])`;
}

/** Transaction data for `verifyProof`: 4-byte selector then the static arguments, one word each. */
export function abiEncodeVerifyProof(calldata: SolidityCalldata): string {
  const selector = Buffer.from(
    keccak_256(new TextEncoder().encode(verifyProofSignature(calldata.input.length))).subarray(0, 4),
  ).toString("hex");
  const words = [...proofWords(calldata), ...calldata.input].map((w) => w.slice(2));
  return `0x${selector}${words.join("")}`;
}

/** Where calldata came from: a `zktally-bundle/v1` or a bare `{publicSignals, proof}`. */
export interface CalldataSource {
  readonly kind: "bundle" | "proof";
  readonly circuitId?: string;
  readonly calldata: SolidityCalldata;
}

/**
 * Calldata from parsed JSON: a proof bundle (anything with a `format` field, parsed strictly by
 * `parseBundle`, signal count fixed by its circuit) or exactly `{publicSignals, proof}`.
 */
export function calldataFromJson(value: unknown): CalldataSource {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new VerifierInputError(
      "(root)",
      "expected a JSON object: a proof bundle or {publicSignals, proof}",
    );
  }
  if (Object.hasOwn(value, "format")) {
    const { bundle, signals } = parseBundle(value);
    return {
      kind: "bundle",
      circuitId: bundle.circuitId,
      calldata: solidityCalldata(bundle.proof, bundle.publicSignals, signals.length),
    };
  }
  for (const key of Object.keys(value)) {
    if (key !== "publicSignals" && key !== "proof") throw new VerifierInputError(key, "unexpected field");
  }
  const record = value as { publicSignals?: unknown; proof?: unknown };
  if (record.proof === undefined) throw new VerifierInputError("proof", "missing field");
  if (record.publicSignals === undefined) throw new VerifierInputError("publicSignals", "missing field");
  return { kind: "proof", calldata: solidityCalldata(record.proof, record.publicSignals) };
}
