/**
 * @module setup/fast
 *
 * Fast INSECURE development trusted setup that exploits known toxic waste while producing standard
 * artifacts snarkjs accepts unchanged:
 * - `writeDevPtau` writes a phase-2-ready `.ptau` (same layout as snarkjs `powersoftau new` + `contribute`
 *   + `prepare phase2`, with one contribution record `snarkjs powersoftau verify` accepts) from tau, alpha,
 *   beta by fixed-base multiplications instead of FFTs in the exponent;
 * - `newDevZKey` writes the zkey snarkjs `zKey.newZKey` would write for the same r1cs and ptau, byte for
 *   byte, by evaluating the QAP polynomials at the known tau.
 * Then `zKey.contribute` / `zKey.beacon` / `zKey.verifyFromR1cs` run as usual.
 *
 * SECURITY: everything here is for development and tests only. Whoever knows the secrets (this process,
 * the caller, anyone holding a seed passed to `toxicWasteFromSeed`) can forge proofs for every key derived
 * from such a ptau. Production keys must come from a public ceremony ptau and the regular snarkjs pipeline.
 */

export { ChaCha, DEV_CONTRIBUTION_NAME } from "./contribution.ts";
export { type FastCurve, type Group, getCurve, SetupError } from "./curve.ts";
export { FQ_MODULUS, rootOfUnity } from "./field.ts";
export {
  evaluateSpec,
  lagrangeSpec,
  listSpec,
  powersSpec,
  type ScalarSpec,
  truncatedLagrangeSpec,
} from "./lagrange.ts";
export { chooseWindow, FixedBasePool, MAX_TABLE_BYTES, type PoolOptions, withPool } from "./pool.ts";
export {
  type DevPtauResult,
  FAST_PTAU_GENERATOR,
  MAX_FAST_PTAU_POWER,
  type WriteDevPtauOptions,
  writeDevPtau,
} from "./ptau.ts";
export { assertToxicWaste, randomToxicWaste, type ToxicWaste, toxicWasteFromSeed } from "./secrets.ts";
export { type DevZKeyResult, type NewDevZKeyOptions, newDevZKey, snarkjsLog2 } from "./zkey.ts";
