/**
 * @module verifier/history
 *
 * Epoch chains (design.md section 5): `verifyHistory` checks a dataset's signed manifests as a hash chain
 * (each later epoch's `previousManifestHash` is the `manifestHash` of the epoch before it, epochs strictly
 * increasing, every manifest signed by an accepted operator key) and refuses a fork (two different manifests
 * for one epoch). `checkAgainstHistory` places a bundle's manifest on a verified chain: which epoch it is and
 * how many later epochs exist, or a fork when the chain holds another manifest for its epoch.
 *
 * Security caveats: a history only says something when its head comes from a source the partner trusts (the
 * operator key pinned, or a head seen earlier); a verified history proves the operator signed this sequence,
 * not that it published no other one to someone else (forks between partners are caught by comparing heads,
 * or through the transparency log). Browser-safe: only the manifest module and `@noble/*`.
 */

import { ManifestError } from "../dataset/errors.ts";
import { type AnyManifest, manifestHash, parseAnyManifest, verifyManifest } from "../dataset/manifest.ts";
import { readJsonInput } from "./bundle.ts";
import { VerifierInputError } from "./errors.ts";

/** What a failed history check found. */
export type HistoryCheck = "dataset" | "signature" | "fork" | "order" | "link";

export interface HistoryEntry {
  readonly epoch: number;
  readonly manifestHash: string;
  readonly manifest: AnyManifest;
}

export type HistoryResult =
  | {
      readonly valid: true;
      readonly datasetId: string;
      /** Oldest first. */
      readonly entries: readonly HistoryEntry[];
      readonly head: HistoryEntry;
    }
  | { readonly valid: false; readonly check: HistoryCheck; readonly reason: string };

export type HistoryPlacement =
  | { readonly valid: true; readonly epoch: number; readonly laterEpochs: number; readonly headEpoch: number }
  | { readonly valid: false; readonly check: "dataset" | "fork" | "unknown"; readonly reason: string };

export interface HistoryOptions {
  /** Operator keys manifests may be signed with (hex; e.g. the pinned key and keys it rotated to). */
  readonly operatorKeys: readonly string[];
}

/** Parses a history file: `{"manifests": [...]}` or an array of signed manifests (objects or JSON text). */
export function parseHistory(input: unknown): AnyManifest[] {
  const value = readJsonInput(input, "history");
  const list = Array.isArray(value) ? value : (value as { manifests?: unknown } | null)?.manifests;
  if (!Array.isArray(list) || list.length === 0) {
    throw new VerifierInputError("history", "expected a non-empty array of manifests or {manifests: [...]}");
  }
  return list.map((item, index) => {
    try {
      return parseAnyManifest(item);
    } catch (error) {
      if (error instanceof ManifestError)
        throw new VerifierInputError(`history[${index}].${error.path}`, error.reason);
      throw error;
    }
  });
}

/** Verifies a dataset's manifests as one unforked epoch chain (any order in; oldest first out). */
export function verifyHistory(input: unknown, options: HistoryOptions): HistoryResult {
  const manifests = parseHistory(input);
  const keys = new Set(options.operatorKeys.map((key) => key.toLowerCase()));
  const datasetId = (manifests[0] as AnyManifest).datasetId;
  const byEpoch = new Map<number, HistoryEntry>();
  for (const manifest of manifests) {
    if (manifest.datasetId !== datasetId) {
      return fail("dataset", `history mixes datasets ${datasetId} and ${manifest.datasetId}`);
    }
    if (!keys.has(manifest.operatorKey) || !verifyManifest(manifest)) {
      return fail("signature", `epoch ${manifest.epoch} is not signed by an accepted operator key`);
    }
    const entry = { epoch: manifest.epoch, manifestHash: manifestHash(manifest), manifest };
    const seen = byEpoch.get(manifest.epoch);
    if (seen && seen.manifestHash !== entry.manifestHash) return forkAt(datasetId, manifest.epoch);
    byEpoch.set(manifest.epoch, entry);
  }
  const entries = [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
  for (let i = 1; i < entries.length; i++) {
    const { manifest, epoch } = entries[i] as HistoryEntry;
    const previous = entries[i - 1] as HistoryEntry;
    if (manifest.previousManifestHash === undefined) {
      return fail("link", `epoch ${epoch} names no previous manifest, but epoch ${previous.epoch} exists`);
    }
    if (manifest.previousManifestHash !== previous.manifestHash) {
      return fail(
        "link",
        `epoch ${epoch} does not link to the given epoch ${previous.epoch} (missing or forked epoch)`,
      );
    }
  }
  return { valid: true, datasetId, entries, head: entries[entries.length - 1] as HistoryEntry };
}

/** Places a (bundle's) manifest on a verified history. */
export function checkAgainstHistory(
  manifestInput: unknown,
  history: Extract<HistoryResult, { valid: true }>,
): HistoryPlacement {
  const manifest = parseAnyManifest(readJsonInput(manifestInput, "manifest"));
  if (manifest.datasetId !== history.datasetId) {
    return {
      valid: false,
      check: "dataset",
      reason: `the manifest is for ${manifest.datasetId}, the history for ${history.datasetId}`,
    };
  }
  const hash = manifestHash(manifest);
  const entry = history.entries.find((item) => item.epoch === manifest.epoch);
  if (entry === undefined) {
    return { valid: false, check: "unknown", reason: `the history holds no epoch ${manifest.epoch}` };
  }
  if (entry.manifestHash !== hash) {
    return { valid: false, check: "fork", reason: forkReason(manifest.datasetId, manifest.epoch) };
  }
  const laterEpochs = history.entries.filter((item) => item.epoch > manifest.epoch).length;
  return { valid: true, epoch: manifest.epoch, laterEpochs, headEpoch: history.head.epoch };
}

function forkReason(datasetId: string, epoch: number): string {
  return `fork: two different manifests for ${datasetId} epoch ${epoch}`;
}

function forkAt(datasetId: string, epoch: number): HistoryResult {
  return fail("fork", forkReason(datasetId, epoch));
}

function fail(check: HistoryCheck, reason: string): HistoryResult {
  return { valid: false, check, reason };
}
