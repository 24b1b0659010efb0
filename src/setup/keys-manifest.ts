/**
 * @module setup/keys-manifest
 *
 * The pinned keys manifest `<keysDir>/manifest.json`:
 * `{version: 1, insecure, ptau: {power, sha256, insecure}, circuits: {[id]: {sourceHash, constraints, nPublic,
 * r1csSha256, wasmSha256, zkeySha256, vkeySha256}}}` plus one `<keysDir>/<id>.vkey.json` per circuit.
 * `vkeySha256` is the SHA-256 of the canonical JSON of the verification key, so reformatting the vkey file
 * does not change its identity. Every write is atomic (temp file + rename).
 *
 * `checkPinned` recomputes artifact hashes and throws `PinMismatchError` naming the artifact that differs;
 * provers and verifiers call it (or `loadPinnedVkey`) before trusting any zkey, wasm or vkey from disk.
 *
 * Security caveats: the manifest is only as trustworthy as the place it is read from (commit it, review
 * changes). `insecure: true` marks keys derived from a development ptau: fine for tests, never for production.
 */

import { existsSync } from "node:fs";
import path from "node:path";
import type { Groth16VerificationKey } from "snarkjs";
import { z } from "zod";
import { hexSchema } from "../core/formats.ts";
import { writeFileAtomic } from "../storage/atomic-write.ts";
import { sha256File } from "../storage/file-digest.ts";
import { readJsonFile } from "../storage/json-file.ts";
import { IntegrityError } from "../util/errors.ts";
import type { CompiledCircuit } from "./compile.ts";
import { assertCircuitId } from "./paths.ts";
import { assertPhase2Contributed, type CircuitKeys, vkeyHash } from "./phase2.ts";

/** A pinned artifact (or the manifest entry itself) differs from what is on disk or in memory. */
export class PinMismatchError extends IntegrityError {
  constructor(
    /** Which artifact: "r1cs" | "wasm" | "zkey" | "vkey" | "ptau" | "entry" | a manifest field name. */
    readonly artifact: string,
    readonly circuitId: string,
    readonly expected: string,
    readonly actual: string,
    /** The message and hint when they should say more than "does not match" (a missing entry). */
    explained?: { readonly message: string; readonly hint: string },
  ) {
    super(
      "pin_mismatch",
      explained?.message ??
        `pinned ${artifact} of circuit ${circuitId} does not match: expected ${expected}, got ${actual}`,
      {
        path: artifact,
        hint: explained?.hint ?? "rebuild or re-fetch the keys, or re-pin them deliberately",
      },
    );
  }
}

/** No keys are pinned for the circuit in `keysDir`: says which circuit and how to make its keys. */
function keysMissing(keysDir: string, id: string, what: string): PinMismatchError {
  return new PinMismatchError("entry", id, "a pinned entry", what, {
    message: `no keys for circuit ${id} in ${keysDir} (${what})`,
    hint: `check --keys-dir / ZKTALLY_KEYS_DIR; make them with zktally setup --ptau FILE --circuit ${id} --keys ${keysDir} (a ceremony ptau), or for development only with zktally serve --dev (INSECURE development keys)`,
  });
}

const hex64 = hexSchema(32, "lowercase hex SHA-256");
const count = z.number().int().nonnegative();

const pinnedCircuitSchema = z.strictObject({
  sourceHash: hex64,
  constraints: count,
  nPublic: count,
  r1csSha256: hex64,
  wasmSha256: hex64,
  zkeySha256: hex64,
  vkeySha256: hex64,
});

const keysManifestSchema = z.strictObject({
  version: z.literal(1),
  insecure: z.boolean(),
  ptau: z.strictObject({ power: z.number().int().min(1).max(28), sha256: hex64, insecure: z.boolean() }),
  circuits: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/), pinnedCircuitSchema),
});

export type PinnedCircuit = z.infer<typeof pinnedCircuitSchema>;
export type KeysManifest = z.infer<typeof keysManifestSchema>;

/** The ptau a set of keys was derived from. */
export interface PinnedPtau {
  readonly power: number;
  readonly sha256: string;
  readonly insecure: boolean;
}

export const KEYS_MANIFEST_FILE = "manifest.json";

export function keysManifestPath(keysDir: string): string {
  return path.join(keysDir, KEYS_MANIFEST_FILE);
}

/** `<keysDir>/<id>.vkey.json`. */
export function pinnedVkeyPath(keysDir: string, id: string): string {
  assertCircuitId(id);
  return path.join(keysDir, `${id}.vkey.json`);
}

/** Parses and validates a manifest object; throws `TypeError` naming the first offending field. */
export function parseKeysManifest(value: unknown, source = "keys manifest"): KeysManifest {
  const result = keysManifestSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue?.path.map(String).join(".") || "(root)";
    throw new TypeError(`${source}: invalid field ${field}: ${issue?.message ?? "invalid"}`);
  }
  if (result.data.insecure !== result.data.ptau.insecure) {
    throw new TypeError(`${source}: invalid field insecure: must equal ptau.insecure`);
  }
  return result.data;
}

/** Reads `<keysDir>/manifest.json`; undefined when it does not exist. */
export async function readKeysManifest(keysDir: string): Promise<KeysManifest | undefined> {
  const file = keysManifestPath(keysDir);
  if (!existsSync(file)) return undefined;
  return parseKeysManifest(await readJsonFile(file), file);
}

/** Validates and writes the manifest atomically, circuits sorted by id for stable diffs. */
export async function writeKeysManifest(keysDir: string, manifest: KeysManifest): Promise<void> {
  const valid = parseKeysManifest(manifest);
  const circuits = Object.fromEntries(Object.entries(valid.circuits).sort(([a], [b]) => (a < b ? -1 : 1)));
  await writeFileAtomic(keysManifestPath(keysDir), `${JSON.stringify({ ...valid, circuits }, null, 2)}\n`);
}

/** What `pinCircuit` needs: the compiled circuit and its setup result. */
export interface PinInput {
  readonly compiled: Pick<CompiledCircuit, "id" | "sourceHash" | "constraints" | "r1csPath" | "wasmPath">;
  readonly keys: Pick<CircuitKeys, "zkeyPath" | "vkey">;
  readonly ptau: PinnedPtau;
}

export interface PinOptions {
  /**
   * Overwrite an existing entry whose hashes differ, and accept a different ptau (entries of other circuits
   * set up with the old ptau are then dropped, since their keys no longer belong to this manifest).
   */
  readonly replace?: boolean;
}

export interface PinResult {
  readonly manifest: KeysManifest;
  readonly entry: PinnedCircuit;
  /** False when the manifest already held exactly this entry. */
  readonly changed: boolean;
  /** Circuit ids removed because they were pinned against another ptau (only with `replace`). */
  readonly dropped: readonly string[];
}

/** Hashes the circuit's artifacts, records them in the manifest and copies the vkey to `<id>.vkey.json`. */
export async function pinCircuit(
  keysDir: string,
  input: PinInput,
  opts: PinOptions = {},
): Promise<PinResult> {
  const { compiled, keys, ptau } = input;
  assertCircuitId(compiled.id);
  assertPhase2Contributed(keys.vkey);
  const entry: PinnedCircuit = {
    sourceHash: compiled.sourceHash,
    constraints: compiled.constraints,
    nPublic: keys.vkey.nPublic,
    r1csSha256: await sha256File(compiled.r1csPath),
    wasmSha256: await sha256File(compiled.wasmPath),
    zkeySha256: await sha256File(keys.zkeyPath),
    vkeySha256: vkeyHash(keys.vkey),
  };
  const existing = await readKeysManifest(keysDir);
  const { base, dropped } = manifestForPtau(existing, ptau, compiled.id, opts);
  const previous = base.circuits[compiled.id];
  if (previous && !opts.replace) assertSameEntry(compiled.id, previous, entry);
  const changed =
    !previous || JSON.stringify(previous) !== JSON.stringify(entry) || dropped.length > 0 || !existing;
  const manifest: KeysManifest = { ...base, circuits: { ...base.circuits, [compiled.id]: entry } };
  await writeFileAtomic(pinnedVkeyPath(keysDir, compiled.id), `${JSON.stringify(keys.vkey, null, 2)}\n`);
  if (changed) await writeKeysManifest(keysDir, manifest);
  return { manifest, entry, changed, dropped };
}

function manifestForPtau(
  existing: KeysManifest | undefined,
  ptau: PinnedPtau,
  id: string,
  opts: PinOptions,
): { base: KeysManifest; dropped: string[] } {
  const fresh: KeysManifest = {
    version: 1,
    insecure: ptau.insecure,
    ptau: { power: ptau.power, sha256: ptau.sha256, insecure: ptau.insecure },
    circuits: {},
  };
  if (!existing) return { base: fresh, dropped: [] };
  if (existing.ptau.sha256 === ptau.sha256) return { base: existing, dropped: [] };
  if (!opts.replace) throw new PinMismatchError("ptau", id, existing.ptau.sha256, ptau.sha256);
  return { base: fresh, dropped: Object.keys(existing.circuits).filter((other) => other !== id) };
}

function assertSameEntry(id: string, pinned: PinnedCircuit, actual: PinnedCircuit): void {
  for (const field of Object.keys(pinned) as (keyof PinnedCircuit)[]) {
    if (pinned[field] !== actual[field]) {
      throw new PinMismatchError(field, id, String(pinned[field]), String(actual[field]));
    }
  }
}

/** Files (or an in-memory vkey) to check against a circuit's pins; omitted ones are not checked. */
export interface PinnedFiles {
  readonly r1csPath?: string;
  readonly wasmPath?: string;
  readonly zkeyPath?: string;
  readonly vkeyPath?: string;
  readonly vkey?: unknown;
}

/** The manifest entry of `id`; `PinMismatchError("entry")` when the manifest or the entry is missing. */
export async function pinnedEntry(
  keysDir: string,
  id: string,
): Promise<{ manifest: KeysManifest; entry: PinnedCircuit }> {
  assertCircuitId(id);
  const manifest = await readKeysManifest(keysDir);
  if (!manifest) throw keysMissing(keysDir, id, `no ${keysManifestPath(keysDir)}`);
  const entry = manifest.circuits[id];
  if (!entry) throw keysMissing(keysDir, id, "its manifest.json pins no such circuit");
  return { manifest, entry };
}

/** Recomputes the hashes of the given artifacts and throws `PinMismatchError` naming the first that differs. */
export async function checkPinned(keysDir: string, id: string, files: PinnedFiles): Promise<PinnedCircuit> {
  const { entry } = await pinnedEntry(keysDir, id);
  if (files.r1csPath) assertDigest(id, "r1cs", entry.r1csSha256, await sha256File(files.r1csPath));
  if (files.wasmPath) assertDigest(id, "wasm", entry.wasmSha256, await sha256File(files.wasmPath));
  if (files.zkeyPath) assertDigest(id, "zkey", entry.zkeySha256, await sha256File(files.zkeyPath));
  if (files.vkeyPath)
    assertDigest(id, "vkey", entry.vkeySha256, vkeyHash(await readJsonFile(files.vkeyPath)));
  if (files.vkey !== undefined) assertDigest(id, "vkey", entry.vkeySha256, vkeyHash(files.vkey));
  return entry;
}

/** Throws `PinMismatchError` unless `actual === expected`. */
export function assertDigest(id: string, artifact: string, expected: string, actual: string): void {
  if (actual !== expected) throw new PinMismatchError(artifact, id, expected, actual);
}

/** Reads `<keysDir>/<id>.vkey.json`, checks it against the manifest pin and refuses keys without phase 2. */
export async function loadPinnedVkey(keysDir: string, id: string): Promise<Groth16VerificationKey> {
  const { entry } = await pinnedEntry(keysDir, id);
  const vkey = (await readJsonFile(pinnedVkeyPath(keysDir, id))) as Groth16VerificationKey;
  assertDigest(id, "vkey", entry.vkeySha256, vkeyHash(vkey));
  assertPhase2Contributed(vkey);
  if (vkey.nPublic !== entry.nPublic)
    throw new PinMismatchError("nPublic", id, `${entry.nPublic}`, `${vkey.nPublic}`);
  return vkey;
}
