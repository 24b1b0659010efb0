/**
 * @module zktally/verifier
 *
 * Partner verifier SDK: `verify(bundle, {keys, operatorKey, manifest})` checks a `zktally-bundle/v1`
 * proof bundle (docs/bundle.md) offline and says what was proven in words; `verifyBundles` batches
 * many; `verifyHistory` checks a dataset's epoch chain of manifests and `checkAgainstHistory` places a
 * bundle's manifest on it; `resolveKeyChain` follows operator key rotations and revocations from a pinned key
 * and `checkManifestKey` says whether a manifest's key is accepted (a revoked key with a manifest receipt,
 * its head signed by a log key that `resolveLogKeyChain` reaches from the pinned first log key); `verifyChain` checks a `zktally-bundle/v2` chain bundle (one proof per chunk plus a final proof,
 * naming the first bad chunk), `verifyDpChain` a `zktally-bundle/v3` differentially private chain bundle
 * (noise proven in the final step, its (epsilon, delta) recomputed), `verifyDpHistogram` a dp-histogram bundle (noisy
 * cells, per-cell tiers), `verifyRelease` a geoeditors-style release and its TSV, and `verifyAny` takes any format. Underneath: Groth16 verification on bn254 with `@noble/curves`, safe to bundle for browsers
 * (no `node:` imports, no snarkjs; test/verifier-browser.test.ts walks the import graph). Inputs are
 * parsed strictly and malformed input throws {@link VerifierInputError} naming the offending field,
 * while a well-formed but invalid proof makes the verify functions return `false` (`verifyGroth16*`)
 * or `{valid: false, reason}` (`verify`, `verifyBundles`).
 *
 * Read bundle, key and manifest files with {@link parseStrictJson} (or pass their text to `verify`): it
 * refuses duplicate keys, which `JSON.parse` silently resolves to the last value.
 *
 * Security caveats: pin verification keys by {@link vkeyHash} and never use a key supplied by the
 * prover; check what the public signals say (root, nonce, query) against your own expectations.
 */

export { JsonTextError, parseStrictJson } from "../util/strict-json.ts";
export {
  type BatchItem,
  findInvalidBatchItems,
  findInvalidParsedBatchItems,
  type ParsedBatchItem,
  type RandomBytes,
  verifyGroth16Batch,
} from "./batch.ts";
export {
  BUNDLE_FORMAT,
  type BundleAnswer,
  type ParsedBundle,
  type ProofBundle,
  parseBundle,
} from "./bundle.ts";
export {
  CHAIN_BUNDLE_FORMAT,
  type ChainBundle,
  type ChainProofEntry,
  MAX_CHAIN_CHUNKS,
  type ParsedChainBundle,
  parseChainBundle,
} from "./chain-bundle.ts";
export { isCircuitListing, keysFromCircuitListing, type ListedKeys } from "./circuit-listing.ts";
export { describePredicate, describeStatement, groupDigits, type StatementParts } from "./describe.ts";
export {
  DP_CHAIN_BUNDLE_FORMAT,
  type DpChainBundle,
  type DpChainRejected,
  type DpChainVerified,
  type DpChainVerifyResult,
  describeNoisyStatement,
  isDpChainBundle,
  type NoisyAnswer,
  type ParsedDpChainBundle,
  type PrivacyClaim,
  parseDpChainBundle,
  verifyDpChain,
} from "./dp-chain.ts";
export {
  type DpHistogramBundle,
  type DpHistogramRejected,
  type DpHistogramVerified,
  type DpHistogramVerifyResult,
  describeNoisyHistogram,
  type HistogramPrivacy,
  isDpHistogramBundle,
  type NoisyHistogramAnswer,
  type PrivacyTier,
  parseDpHistogramBundle,
  verifyDpHistogram,
} from "./dp-histogram.ts";
export { InsecureKeysError, VerifierInputError } from "./errors.ts";
export { verifyGroth16 } from "./groth16.ts";
export {
  checkAgainstHistory,
  type HistoryCheck,
  type HistoryEntry,
  type HistoryOptions,
  type HistoryPlacement,
  type HistoryResult,
  parseHistory,
  verifyHistory,
} from "./history.ts";
export {
  checkManifestKey,
  type KeyChain,
  type KeyCheck,
  type KeyRevocation,
  type KeyRotation,
  type KeyStatement,
  parseKeyStatements,
  REVOCATION_TYPE,
  type ReceiptOptions,
  ROTATION_TYPE,
  resolveKeyChain,
} from "./key-chain.ts";
export {
  ed25519Verifies,
  type LogKeyChain,
  type LogKeyChainResult,
  parseLogKeyRotations,
  resolveLogKeyChain,
} from "./log-key-chain.ts";
export {
  BASE_MODULUS,
  type ParsedProof,
  type ParsedVerifyingKey,
  parseG1,
  parseG2,
  parseProof,
  parsePublicSignals,
  parseScalar,
  parseVerifyingKey,
  SCALAR_MODULUS,
  type SnarkjsProof,
  type SnarkjsVerifyingKey,
} from "./parse.ts";
export {
  cellKeys,
  cellLabel,
  describePassAnswer,
  type ParsedPassBundle,
  type PassAnswer,
  type PassBundle,
  type PassProofEntry,
  parsePassBundle,
  passAnswerInWords,
} from "./pass-bundle.ts";
export type { G1Point, G2Point } from "./points.ts";
export {
  isReleaseDocument,
  RELEASE_FORMAT,
  RELEASE_TSV_HEADER,
  type ReleaseDocument,
  type ReleaseVerified,
  type ReleaseVerifyResult,
  releaseCells,
  releaseTsv,
  verifyRelease,
} from "./release.ts";
export { isInG2Subgroup } from "./subgroup.ts";
export {
  type BundleRejected,
  type BundleVerified,
  type BundleVerifyResult,
  type RejectionCheck,
  type VerifyOptions,
  verify,
  verifyBundles,
} from "./verify-bundle.ts";
export {
  type ChainRejected,
  type ChainVerified,
  type ChainVerifyResult,
  isChainBundle,
  verifyAny,
  verifyChain,
} from "./verify-chain.ts";
export {
  isPassBundle,
  type PassRejected,
  type PassVerified,
  type PassVerifyResult,
  verifyPass,
} from "./verify-pass.ts";
export { type PreparedVerifyingKey, prepareVerifyingKey, vkeyHash } from "./vkey.ts";
