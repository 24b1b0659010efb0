/**
 * @module setup/ceremony
 *
 * A multi-party Groth16 phase 2 with files passed around (docs/ceremony.md), one module per step:
 * `initCeremony` (operator: copies the r1cs, creates `<id>_0000.zkey` with snarkjs `newZKey` against a checked
 * ptau and writes the transcript `ceremony.json`), `contributeCeremony` (each party in turn: snarkjs
 * `contribute`, prints the contribution hash to publish, appends it to the transcript), `beaconCeremony` (a
 * public random beacon closes the ceremony), `verifyCeremony` (anyone: replays everything) and
 * `finalizeCeremony` (operator: verifies, installs the final zkey where the prover finds it, pins the
 * verification key in the keys manifest and the ptau's hashes in `<keysDir>/ptau.json`). The transcript
 * format is in `transcript.ts`, the zkey's recorded contribution chain in `zkey-contributions.ts`.
 *
 * Security caveats:
 * - Soundness needs ONE honest contributor who destroyed their entropy; each contributor must check that the
 *   published transcript contains the hash they were given (`verify --expect HASH`).
 * - A beacon alone adds no secret (anyone can recompute it): at least one ordinary contribution is required,
 *   and the beacon must come last. Zero-contribution keys (delta = gamma) are refused everywhere.
 * - The transcript is not signed: its integrity comes from the independently published contribution hashes
 *   and the replay (`verifyFromR1cs` against the r1cs and the ptau); the ptau is identified by its
 *   published BLAKE2b-512 (`ceremony-ptau.ts`).
 */

export {
  type BeaconOptions,
  beaconCeremony,
  type ContributeOptions,
  type ContributionResult,
  contributeCeremony,
} from "./contribute.ts";
export { CeremonyError } from "./errors.ts";
export { type FinalizeCeremonyOptions, type FinalizeResult, finalizeCeremony } from "./finalize.ts";
export { type CeremonyStep, type InitCeremonyOptions, initCeremony } from "./init.ts";
export {
  BEACON_ITERATIONS_MAX,
  BEACON_ITERATIONS_MIN,
  CEREMONY_FORMAT,
  type CeremonyEntry,
  type CeremonyTranscript,
  DEFAULT_BEACON_NAME,
  formatContributionHash,
  normalizeContributionHash,
  parseTranscript,
  readTranscript,
  TRANSCRIPT_FILE,
} from "./transcript.ts";
export { type CeremonyReport, type VerifyCeremonyOptions, verifyCeremony } from "./verify.ts";
export {
  readZkeyContributions,
  type ZkeyContribution,
  type ZkeyContributions,
} from "./zkey-contributions.ts";
