/**
 * @module types/snarkjs
 *
 * Minimal hand-written declarations for the parts of snarkjs 0.7.6 zktally uses. snarkjs ships no types.
 * Caveat: several snarkjs functions report failure by returning `-1` or `false` (and logging) instead of
 * throwing; the return types below say so, and callers must check them.
 */
declare module "snarkjs" {
  /** A fastfile target: a path, or an in-memory buffer (`data` is filled in when snarkjs writes to it). */
  export type FastFile = string | { type: "mem"; data?: Uint8Array } | { type: "bigMem"; data?: unknown };

  /** Logger shape snarkjs calls into (all optional in practice; provide all four). */
  export interface SnarkjsLogger {
    debug(message: string): void;
    info(message: string): void;
    warn(message: string): void;
    error(message: string): void;
  }

  /** A Groth16 proof as snarkjs writes it: projective coordinates as decimal strings. */
  export interface Groth16Proof {
    pi_a: string[];
    pi_b: string[][];
    pi_c: string[];
    protocol: string;
    curve: string;
  }

  /** A Groth16 verification key as exported by `zKey.exportVerificationKey`. */
  export interface Groth16VerificationKey {
    protocol: string;
    curve: string;
    nPublic: number;
    vk_alpha_1: string[];
    vk_beta_2: string[][];
    vk_gamma_2: string[][];
    vk_delta_2: string[][];
    vk_alphabeta_12: string[][][];
    IC: string[][];
  }

  /** The bits of an ffjavascript curve zktally touches. */
  export interface Curve {
    name: string;
    terminate(): Promise<void>;
  }

  /** Header fields of an r1cs file as returned by `r1cs.info`. */
  export interface R1csInfo {
    nVars: number;
    nOutputs: number;
    nPubInputs: number;
    nPrvInputs: number;
    nLabels: number;
    nConstraints: number;
  }

  export const groth16: {
    prove(
      zkey: FastFile,
      witness: FastFile,
      logger?: SnarkjsLogger,
    ): Promise<{ proof: Groth16Proof; publicSignals: string[] }>;
    verify(vkey: unknown, publicSignals: unknown, proof: unknown, logger?: SnarkjsLogger): Promise<boolean>;
  };

  export const wtns: {
    calculate(
      input: Record<string, unknown>,
      wasm: FastFile,
      witness: FastFile,
      options?: Record<string, unknown>,
    ): Promise<void>;
  };

  export const powersOfTau: {
    newAccumulator(
      curve: Curve,
      power: number,
      fileName: string,
      logger?: SnarkjsLogger,
    ): Promise<Uint8Array>;
    contribute(
      oldPtau: string,
      newPtau: string,
      name: string,
      entropy: string,
      logger?: SnarkjsLogger,
    ): Promise<Uint8Array>;
    preparePhase2(oldPtau: string, newPtau: string, logger?: SnarkjsLogger): Promise<void>;
  };

  export const zKey: {
    /** Returns the circuit hash, or -1 on failure (curve mismatch, circuit too big, unprepared ptau). */
    newZKey(r1cs: string, ptau: string, zkey: FastFile, logger?: SnarkjsLogger): Promise<Uint8Array | -1>;
    contribute(
      oldZkey: string,
      newZkey: string,
      name: string,
      entropy: string,
      logger?: SnarkjsLogger,
    ): Promise<Uint8Array>;
    /** Returns the contribution hash, or false on invalid parameters. */
    beacon(
      oldZkey: string,
      newZkey: string,
      name: string,
      beaconHashHex: string,
      numIterationsExp: number,
      logger?: SnarkjsLogger,
    ): Promise<Uint8Array | false>;
    verifyFromR1cs(r1cs: string, ptau: string, zkey: string, logger?: SnarkjsLogger): Promise<boolean>;
    verifyFromInit(initZkey: string, ptau: string, zkey: string, logger?: SnarkjsLogger): Promise<boolean>;
    exportVerificationKey(zkey: FastFile, logger?: SnarkjsLogger): Promise<Groth16VerificationKey>;
  };

  export const r1cs: {
    info(r1csFile: string, logger?: SnarkjsLogger): Promise<R1csInfo>;
  };

  export const curves: {
    getCurveFromName(name: string, options?: { singleThread?: boolean }): Promise<Curve>;
  };
}
