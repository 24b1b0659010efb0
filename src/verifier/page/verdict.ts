/**
 * @module verifier/page/verdict
 *
 * What the browser verification page shows, computed without the DOM: `pageVerdict(input)` verifies the
 * pasted or dropped bundle (v1, v2 chain, v3 dp-chain or a pass bundle) with the SDK against the trust anchors the page holds (the keys
 * as the service's `GET /v1/circuits` answers them, the operator's public key, optionally the nonce the
 * partner sent) and returns the verdict in words plus the facts to list: statement, answer, dataset and
 * epoch, key hash(es), and the INSECURE development setup warning whenever the keys are marked insecure
 * (refused unless the page's box is ticked). A pass bundle lists one statement per query (its answer in
 * words, a histogram's hidden cells as "fewer than k") instead of one statement and answer. A bundle that
 * is not valid shows what it claims, marked "claimed, NOT proven", and a statement text that disagrees with
 * the bundle's own answer field is flagged. Everything runs in the page; nothing is sent anywhere.
 *
 * Statuses: `valid`, `invalid` (a check failed), `malformed` (the bundle, keys or operator key is not what it
 * should be), `refused` (insecure keys not accepted).
 */
import { BUNDLE_FORMAT, CHAIN_BUNDLE_FORMAT, frozenJsonCopy, parseBundle } from "../bundle.ts";
import { parseChainBundle } from "../chain-bundle.ts";
import { keysFromCircuitListing } from "../circuit-listing.ts";
import { groupDigits } from "../describe.ts";
import { InsecureKeysError, VerifierInputError } from "../errors.ts";
import { statementOf } from "../verify-bundle.ts";
import { verifyAny } from "../verify-chain.ts";
import { isPassBundle, type PassVerified, verifyPass } from "../verify-pass.ts";

export type PageStatus = "valid" | "invalid" | "malformed" | "refused";

/** What the page's fields hold (text as typed, pasted or dropped). */
export interface PageInput {
  readonly bundle: string;
  /** The `GET /v1/circuits` answer (JSON text). */
  readonly keys: string;
  readonly operatorKey: string;
  readonly nonce: string;
  readonly allowInsecureKeys: boolean;
}

export interface PageVerdict {
  readonly status: PageStatus;
  /** One line: `VALID`, `INVALID: reason`, ... */
  readonly headline: string;
  /** Label and value pairs, in display order. */
  readonly facts: readonly (readonly [string, string])[];
  /** Shown prominently when the keys come from an insecure development setup. */
  readonly insecureWarning?: string;
  readonly warnings: readonly string[];
}

export const INSECURE_WARNING =
  "These verification keys come from an INSECURE development setup: whoever ran it can forge proofs, so this " +
  "bundle proves nothing about the data. Use keys from a public ceremony.";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Why an answer is suppressed, in words: the group-size rule, the dominance rule of sums, or either. */
function suppressedInWords(kind: unknown, minGroupSize: number, dominanceShare: number): string {
  const small = `fewer than ${minGroupSize} records matched (or all but fewer)`;
  if (kind !== "sum" || dominanceShare === 0) return `suppressed: ${small}, so no answer is revealed`;
  const dominated = `one record would make more than ${dominanceShare}% of the sum`;
  const why = minGroupSize > 0 ? `${small}, or ${dominated}` : dominated;
  return `suppressed: ${why}, so no answer is revealed`;
}

/** An answer in words: a grouped number, yes/no, or suppressed (and why). */
export function answerInWords(answer: unknown, minGroupSize: number, dominanceShare = 0): string {
  if (!isRecord(answer)) return JSON.stringify(answer);
  if (answer.suppressed === true) return suppressedInWords(answer.kind, minGroupSize, dominanceShare);
  if (typeof answer.noisy === "string")
    return `${answer.noisy} (noisy: differentially private, noise proven)`;
  const { kind, value } = answer;
  if (typeof value === "boolean") {
    if (kind === "membership") return value ? "yes: a matching record exists" : "no matching record";
    return value ? "yes" : "no";
  }
  if (typeof value === "string" && /^[0-9]+$/.test(value)) return groupDigits(value);
  return JSON.stringify(value);
}

type Verified = Extract<ReturnType<typeof verifyAny>, { valid: true }> | PassVerified;

function factsOf(result: Verified): [string, string][] {
  if ("statements" in result) return passFactsOf(result);
  const facts: [string, string][] = [
    ["Statement", result.statement],
    [
      "Answer",
      "minGroupSize" in result
        ? answerInWords(result.answer, result.minGroupSize, result.dominanceShare)
        : answerInWords(result.answer, 0),
    ],
    ["Dataset", result.datasetId],
    ["Epoch", String(result.epoch)],
  ];
  if ("privacy" in result) {
    const { epsilon, delta, mechanism } = result.privacy;
    facts.push(["Privacy", `epsilon ${epsilon}, delta ${delta} (${mechanism})`]);
  }
  if ("chunkCount" in result) {
    facts.push(
      ["Chunks", `${result.chunkCount} chunk proofs and a final proof`],
      ["Chunk key hash", result.chunkVkeyHash],
      ["Final key hash", result.finalVkeyHash],
      ["Circuits", `${result.chunkCircuitId}, ${result.finalCircuitId}`],
    );
  } else {
    facts.push(["Key hash", result.vkeyHash], ["Circuit", result.circuitId]);
  }
  return [...facts, ...originFacts(result)];
}

/** A pass bundle: every query's statement (with its answer), then the chain's facts. */
function passFactsOf(result: PassVerified): [string, string][] {
  return [
    ...result.statements.map((statement, q): [string, string] => [`Query ${q + 1}`, statement]),
    ["Dataset", result.datasetId],
    ["Epoch", String(result.epoch)],
    ["Minimum group size", String(result.minGroupSize)],
    ["Chunks", `${result.chunkCount} chunk proofs and a final proof`],
    ["Chunk key hash", result.stepVkeyHash],
    ["Final key hash", result.finalVkeyHash],
    ["Circuits", `${result.stepCircuitId}, ${result.finalCircuitId}`],
    ...originFacts(result),
  ];
}

function originFacts(result: Verified): [string, string][] {
  return [
    ["Operator key", result.operatorKey],
    ["Manifest hash", result.manifestHash],
    ["Nonce", result.nonce],
    ["Created", result.createdAt],
  ];
}

/** Marks what a non-valid bundle claims: nothing in it is proven. */
const NOT_PROVEN = "(claimed, NOT proven)";

/**
 * What the bundle's own fields (query, answer, policy) put in words, for v1 and v2 bundles; undefined when
 * they do not parse (then there is nothing to compare the statement text with).
 */
function statementOfFields(bundle: unknown): string | undefined {
  try {
    if (isRecord(bundle) && bundle.format === BUNDLE_FORMAT) return statementOf(parseBundle(bundle));
    if (isRecord(bundle) && bundle.format === CHAIN_BUNDLE_FORMAT)
      return statementOf(parseChainBundle(bundle));
  } catch (error) {
    if (!(error instanceof VerifierInputError)) throw error;
  }
  return undefined;
}

/**
 * What the bundle says about itself, before any check (shown with non-valid verdicts when readable): the
 * statement and answer are labelled as claimed and not proven, and a statement text that its own query and
 * answer fields do not say is flagged (a tampered answer next to the original sentence).
 */
function claimedFacts(bundleText: string): [string, string][] {
  try {
    const bundle = JSON.parse(bundleText) as Record<string, unknown>;
    const manifest = isRecord(bundle.manifest) ? bundle.manifest : {};
    const facts: [string, string][] = [];
    if (typeof bundle.statement === "string") facts.push([`Statement ${NOT_PROVEN}`, bundle.statement]);
    if (bundle.answer !== undefined) {
      const minGroupSize = typeof bundle.minGroupSize === "number" ? bundle.minGroupSize : 0;
      facts.push([`Answer ${NOT_PROVEN}`, answerInWords(bundle.answer, minGroupSize)]);
    }
    const fromFields = statementOfFields(bundle);
    if (fromFields !== undefined && fromFields !== bundle.statement) {
      facts.push([
        "Statement mismatch",
        `the statement text disagrees with the bundle's query and answer fields, which say: ${fromFields}`,
      ]);
    }
    if (typeof manifest.datasetId === "string") facts.push(["Dataset", manifest.datasetId]);
    if (typeof manifest.epoch === "number") facts.push(["Epoch", String(manifest.epoch)]);
    return facts;
  } catch {
    return [];
  }
}

function verdictOf(input: PageInput): PageVerdict {
  if (input.bundle.trim() === "")
    throw new VerifierInputError("bundle", "drop, choose or paste a bundle first");
  if (input.keys.trim() === "")
    throw new VerifierInputError("keys", "paste the verification keys (the GET /v1/circuits answer)");
  const listed = keysFromCircuitListing(input.keys, "keys");
  const nonce = input.nonce.trim();
  const bundle = frozenJsonCopy(input.bundle);
  const options = {
    ...listed,
    operatorKey: input.operatorKey.trim(),
    ...(nonce === "" ? {} : { expectedNonce: nonce }),
    allowInsecureKeys: input.allowInsecureKeys,
  };
  const result = isPassBundle(bundle) ? verifyPass(bundle, options) : verifyAny(bundle, options);
  const insecure = listed.keysManifest.insecure ? { insecureWarning: INSECURE_WARNING } : {};
  if (!result.valid) {
    const at = "at" in result && result.at !== undefined ? ` (chunk ${result.at})` : "";
    return {
      status: "invalid",
      headline: `INVALID: ${result.reason}${at}`,
      facts: [["Failed check", result.check], ...claimedFacts(input.bundle)],
      warnings: [],
      ...insecure,
    };
  }
  return {
    status: "valid",
    headline: "VALID",
    facts: factsOf(result),
    warnings: result.warnings,
    ...insecure,
  };
}

/** Verifies what the page holds; never throws for bad input (that is a verdict too). */
export function pageVerdict(input: PageInput): PageVerdict {
  try {
    return verdictOf(input);
  } catch (error) {
    if (error instanceof InsecureKeysError) {
      return {
        status: "refused",
        headline: "REFUSED: the keys come from an INSECURE development setup",
        facts: claimedFacts(input.bundle),
        insecureWarning: `${INSECURE_WARNING} Tick "accept INSECURE development keys" only to check a demo or test.`,
        warnings: [],
      };
    }
    if (error instanceof VerifierInputError) {
      return { status: "malformed", headline: `MALFORMED: ${error.message}`, facts: [], warnings: [] };
    }
    throw error;
  }
}
