/**
 * @module service/chunk-circuits
 *
 * The chunk and final circuits a chunked (layout v2) dataset is proven with (design.md 7.4). Their ids follow
 * from the signed schema, the dataset's layout and the query capacity of the served circuit (its clause
 * slots C and set size M), so every query the served circuit admits fits them too. Registering a chunked
 * dataset needs both circuits pinned in the keys directory: in development mode (`--dev`) missing ones get
 * INSECURE development keys built on the spot (compile and setup are cached in the build directory); in
 * production mode a missing or insecure key refuses the registration with what to run instead.
 *
 * Every chunked dataset can also be answered with differential privacy (design.md 8): its manifest commits to
 * a noise seed and announces two more circuits, the clamped chunk circuit (sums with clamping bounds) and the
 * noisy final step (limits: config `noise`), pinned and built exactly like the plain pair.
 *
 * With config `pass` (pass queries, design.md section 9), every chunked dataset is also answerable by pass
 * queries: its manifest announces the PassStep and PassFinal circuits of the schema, layout and pass slots
 * (Q, H, G from the config; C and M the served circuit's), pinned and built exactly like the plain pair.
 * With config `pass.dp` (noisy histograms for dp partners, docs/privacy.md) it also announces the
 * PassFinalNoisy of that pass shape (NMAX, JMAX of `pass.dp`).
 *
 * With config `release` (geoeditors-style releases, docs/privacy.md "Releases"), every chunked dataset whose
 * schema has the release fields as enums also announces the release circuits: the PassStep of H wiki tables
 * and its PassFinalNoisy (NMAX, JMAX of config `release`), so a verifier can pin them before any release.
 *
 * All circuits of a keys directory share one ptau (the keys manifest pins it): a development build that
 * would need a larger ptau than the pinned one is refused rather than re-pinning every served key.
 *
 * Security caveats: development keys are forgeable by whoever holds the build directory (their manifest says
 * `insecure: true`); production keys come from `zktally setup --ptau` and a phase-2 ceremony.
 */
import type { Groth16VerificationKey } from "snarkjs";
import {
  type ChunkShape,
  chunkCircuitId,
  chunkQueryShape,
  chunkShapeFor,
  finalCircuitId,
  finalShapeOf,
} from "../circuits/chunk-shape.ts";
import { type NoisyFinalShape, noisyFinalCircuitId } from "../circuits/noise.ts";
import { makeNoisyPassShape, type NoisyPassShape, noisyPassFinalCircuitId } from "../circuits/pass-noise.ts";
import {
  type PassShape,
  type PassSlots,
  passCircuitId,
  passFinalCircuitId,
  passShapeFor,
} from "../circuits/pass-shape.ts";
import type { ChunkLayout } from "../dataset/chunk-layout.ts";
import type { Schema } from "../dataset/schema.ts";
import { DEFAULT_NOISE_LIMITS, noisyFinalShapeFor } from "../prover/prove-noisy-chain.ts";
import { type ReleaseCircuitIds, releaseCircuitIds } from "../release/release.ts";
import { compileCircuit } from "../setup/compile.ts";
import { buildDevKeys } from "../setup/index.ts";
import { loadPinnedVkey, readKeysManifest } from "../setup/keys-manifest.ts";
import {
  ensureChunkMainFile,
  ensureFinalMainFile,
  ensureNoisyFinalMainFile,
  ensureNoisyPassFinalMainFile,
  ensurePassMainFiles,
} from "../setup/main-files.ts";
import { vkeyHash } from "../setup/phase2.ts";
import { requiredPtauPower } from "../setup/ptau.ts";
import { ConflictError } from "../util/errors.ts";
import type { Progress } from "../util/progress.ts";
import type { ReleaseFields } from "../verifier/release.ts";
import type { ServiceConfig } from "./config.ts";

/** Query capacity of the chain circuits: the served circuit's clause slots and set size. */
export interface QuerySlots {
  readonly clauses: number;
  readonly setSize: number;
}

/** The noisy final step's NMAX and JMAX (config `noise`). */
export interface NoiseLimits {
  readonly maxCoins: number;
  readonly maxScaleBits: number;
}

export interface ChainCircuitIds {
  readonly shape: ChunkShape;
  readonly chunkId: string;
  readonly finalId: string;
  /** The clamped chunk circuit (dp sums) and its shape. */
  readonly clampShape: ChunkShape;
  readonly clampChunkId: string;
  /** The noisy final step (dp answers) and its shape. */
  readonly noisyShape: NoisyFinalShape;
  readonly noisyFinalId: string;
  /** The pass circuits (config `pass`), when pass queries are configured. */
  readonly pass?: PassCircuitIds;
  /** The release circuits (config `release`), when releases are configured and the schema has the fields. */
  readonly release?: ReleaseCircuitIds;
}

/** What fixes the release circuits (config `release`). */
export interface ReleaseCircuitConfig {
  readonly fields: ReleaseFields;
  readonly tablesPerPass: number;
  readonly maxCoins: number;
  readonly maxScaleBits: number;
}

/** The PassStep and PassFinal circuits of a chunked dataset (config `pass`). */
export interface PassCircuitIds {
  readonly slots: PassSlots;
  readonly shape: PassShape;
  readonly stepId: string;
  readonly finalId: string;
  /** The PassFinalNoisy of the same pass shape (dp partners' histograms), when config `pass.dp` is set. */
  readonly noisy?: { readonly shape: NoisyPassShape; readonly finalId: string };
}

/** The privacy tier every cell of a dp partner's noisy pass is stated under (one tier: the policy's noise). */
export const DP_PASS_TIER = "policy";

/** Pinned pass circuits: ids and the hashes of their verification keys. */
export interface PassCircuits extends PassCircuitIds {
  readonly stepVkeyHash: string;
  readonly finalVkeyHash: string;
  /** The PassFinalNoisy's vkey hash, when `noisy` is set. */
  readonly noisyFinalVkeyHash?: string;
}

/**
 * The pass slots of config `pass` (Q, H, G) under the served query capacity (C, M), and the noise limits of
 * its PassFinalNoisy (config `pass.dp`) when dp histograms are served.
 */
export type PassConfig = Pick<PassSlots, "queries" | "histogramSlots" | "cells"> & {
  readonly dp?: NoiseLimits | undefined;
};

/** Pinned chain circuits: ids and the hashes of their verification keys. */
export interface ChainCircuits extends ChainCircuitIds {
  readonly chunkVkeyHash: string;
  readonly finalVkeyHash: string;
}

/** Pinned dp chain circuits: the plain ones and the clamped chunk and noisy final keys' hashes. */
export interface DpChainCircuits extends ChainCircuits {
  readonly clampChunkVkeyHash: string;
  readonly noisyFinalVkeyHash: string;
}

/** The pass circuit ids for a schema and layout under the served query capacity and config `pass`. */
export function passCircuitIds(
  schema: Schema,
  layout: ChunkLayout,
  query: QuerySlots,
  pass: PassConfig,
): PassCircuitIds {
  const { dp, ...counts } = pass;
  const slots = { clauses: query.clauses, setSize: query.setSize, ...counts };
  const shape = passShapeFor(schema, layout, slots);
  const ids = { slots, shape, stepId: passCircuitId(shape), finalId: passFinalCircuitId(shape) };
  if (dp === undefined) return ids;
  const noisy = makeNoisyPassShape({ pass: shape, maxCoins: dp.maxCoins, maxScaleBits: dp.maxScaleBits });
  return { ...ids, noisy: { shape: noisy, finalId: noisyPassFinalCircuitId(noisy) } };
}

/** This service's pass circuits for a schema and layout; `409 pass_unavailable` when config `pass` is off. */
export function servedPassCircuitIds(
  config: Pick<ServiceConfig, "pass">,
  schema: Schema,
  layout: ChunkLayout,
  query: QuerySlots,
): PassCircuitIds {
  if (config.pass === undefined) {
    throw new ConflictError("pass_unavailable", "this service does not answer pass queries", {
      hint: "the operator enables them with config pass (--pass-queries, --pass-histogram-slots, --pass-cells)",
    });
  }
  return passCircuitIds(schema, layout, query, config.pass);
}

/**
 * The chain circuit ids for a schema and layout under the served query capacity and noise limits (and the
 * pass circuits when `pass` is given).
 */
export function chainCircuitIds(
  schema: Schema,
  layout: ChunkLayout,
  slots: QuerySlots,
  noise: NoiseLimits = DEFAULT_NOISE_LIMITS,
  pass?: PassConfig,
  release?: ReleaseCircuitConfig,
): ChainCircuitIds {
  const released = release === undefined ? undefined : servedReleaseCircuitIds(release, schema, layout);
  const query = { clauses: slots.clauses, setSize: slots.setSize };
  const shape = chunkShapeFor(schema, layout, query);
  const clampShape = chunkShapeFor(schema, layout, { ...query, clamp: true });
  const noisyShape = noisyFinalShapeFor(chunkQueryShape(shape), noise);
  return {
    shape,
    chunkId: chunkCircuitId(shape),
    finalId: finalCircuitId(finalShapeOf(shape)),
    clampShape,
    clampChunkId: chunkCircuitId(clampShape),
    noisyShape,
    noisyFinalId: noisyFinalCircuitId(noisyShape),
    ...(pass === undefined ? {} : { pass: passCircuitIds(schema, layout, query, pass) }),
    ...(released === undefined ? {} : { release: released }),
  };
}

/**
 * The release circuits of config `release` for a schema and layout; undefined when the schema lacks one of
 * the release fields as an enum (such a dataset is simply not releasable).
 */
export function servedReleaseCircuitIds(
  release: ReleaseCircuitConfig,
  schema: Schema,
  layout: ChunkLayout,
): ReleaseCircuitIds | undefined {
  const { fields } = release;
  const enums = [fields.wiki, fields.country, fields.activity].every(
    (name) => schema.fields.find((field) => field.name === name)?.type === "enum",
  );
  if (!enums) return undefined;
  return releaseCircuitIds(schema, layout, fields, release.tablesPerPass, release);
}

/** Every circuit a chunked dataset's manifest announces (plain pair first, then pass and release pairs). */
export function chainCircuitList(ids: ChainCircuitIds): string[] {
  const pass = ids.pass === undefined ? [] : passCircuitList(ids.pass);
  const release = ids.release === undefined ? [] : [ids.release.stepId, ids.release.finalId];
  // The release PassStep is the pass PassStep when their slots agree: announced once.
  return [...new Set([ids.chunkId, ids.finalId, ids.clampChunkId, ids.noisyFinalId, ...pass, ...release])];
}

/** The pass circuits a manifest announces: PassStep, PassFinal and, for dp histograms, PassFinalNoisy. */
function passCircuitList(pass: PassCircuitIds): string[] {
  return [pass.stepId, pass.finalId, ...(pass.noisy === undefined ? [] : [pass.noisy.finalId])];
}

function keysMissing(config: ServiceConfig, ids: readonly string[]): ConflictError {
  return new ConflictError(
    "circuit_keys_missing",
    `no pinned keys for circuit ${ids.join(" and ")} in ${config.keysDir}: a chunked dataset needs its chunk and final circuits (plain, clamped and noisy, and the pass circuits when pass queries are configured) set up`,
    {
      hint: `set them up with a ceremony ptau (zktally setup --ptau FILE for ${ids.join(", ")}), or run the service in development mode (--dev) for INSECURE development keys`,
    },
  );
}

/**
 * The pinned chain circuits of `ids` (vkeys checked against their pins). Throws `circuit_keys_missing` when
 * one is not pinned and `insecure_keys` when the keys are development keys outside development mode.
 */
export async function pinnedChainCircuits(
  config: ServiceConfig,
  ids: ChainCircuitIds,
): Promise<ChainCircuits> {
  await checkPinned(config, ids.chunkId, [ids.chunkId, ids.finalId]);
  const [chunkVkey, finalVkey] = await Promise.all([
    loadPinnedVkey(config.keysDir, ids.chunkId),
    loadPinnedVkey(config.keysDir, ids.finalId),
  ]);
  return { ...ids, chunkVkeyHash: vkeyHash(chunkVkey), finalVkeyHash: vkeyHash(finalVkey) };
}

/** `pinnedChainCircuits` with the clamped chunk and noisy final keys too (same errors). */
export async function pinnedDpChainCircuits(
  config: ServiceConfig,
  ids: ChainCircuitIds,
): Promise<DpChainCircuits> {
  await checkPinned(config, ids.chunkId, chainCircuitList(ids));
  const [clampVkey, noisyVkey] = await Promise.all([
    loadPinnedVkey(config.keysDir, ids.clampChunkId),
    loadPinnedVkey(config.keysDir, ids.noisyFinalId),
  ]);
  return {
    ...(await pinnedChainCircuits(config, ids)),
    clampChunkVkeyHash: vkeyHash(clampVkey),
    noisyFinalVkeyHash: vkeyHash(noisyVkey),
  };
}

async function checkPinned(config: ServiceConfig, named: string, wanted: readonly string[]) {
  const manifest = await readKeysManifest(config.keysDir);
  const missing = wanted.filter((id) => manifest?.circuits[id] === undefined);
  if (missing.length > 0) throw keysMissing(config, missing);
  if (manifest?.insecure && config.mode !== "development") {
    throw new ConflictError(
      "insecure_keys",
      `the keys of ${named} in ${config.keysDir} are INSECURE development keys; production mode refuses them`,
      { hint: "set up production keys (zktally setup --ptau FILE, zktally ceremony)" },
    );
  }
}

/** The pinned release circuits of `ids` (same errors as `pinnedChainCircuits`). */
export async function pinnedReleaseCircuits(
  config: ServiceConfig,
  ids: ReleaseCircuitIds,
): Promise<ReleaseCircuitIds & { readonly vkeyHashes: { step: string; final: string } }> {
  const [step, final] = await pinnedStepAndFinal(config, ids.finalId, ids.stepId, ids.finalId);
  return { ...ids, vkeyHashes: { step, final } };
}

/** The vkey hashes of a pinned step and final circuit (after `checkPinned`). */
async function pinnedStepAndFinal(
  config: ServiceConfig,
  named: string,
  stepId: string,
  finalId: string,
): Promise<[string, string]> {
  await checkPinned(config, named, [stepId, finalId]);
  const [stepVkey, finalVkey] = await Promise.all([
    loadPinnedVkey(config.keysDir, stepId),
    loadPinnedVkey(config.keysDir, finalId),
  ]);
  return [vkeyHash(stepVkey), vkeyHash(finalVkey)];
}

/** The pinned pass circuits of `ids`, the PassFinalNoisy too when set (same errors as `pinnedChainCircuits`). */
export async function pinnedPassCircuits(config: ServiceConfig, ids: PassCircuitIds): Promise<PassCircuits> {
  const [stepVkeyHash, finalVkeyHash] = await pinnedStepAndFinal(config, ids.stepId, ids.stepId, ids.finalId);
  if (ids.noisy === undefined) return { ...ids, stepVkeyHash, finalVkeyHash };
  await checkPinned(config, ids.stepId, [ids.noisy.finalId]);
  const noisyVkey = await loadPinnedVkey(config.keysDir, ids.noisy.finalId);
  return { ...ids, stepVkeyHash, finalVkeyHash, noisyFinalVkeyHash: vkeyHash(noisyVkey) };
}

/** What `GET /v1/circuits` shows of a pinned circuit. */
export interface PinnedCircuitView {
  readonly circuitId: string;
  readonly vkeyHash: string;
  readonly nPublic: number;
  readonly constraints: number;
  readonly insecure: boolean;
  readonly vkey: Groth16VerificationKey;
}

/** The pinned circuits among `ids` (ids without a pin are left out), with their verification keys. */
export async function pinnedCircuitViews(
  keysDir: string,
  ids: readonly string[],
): Promise<PinnedCircuitView[]> {
  const manifest = await readKeysManifest(keysDir);
  const views: PinnedCircuitView[] = [];
  for (const id of ids) {
    const entry = manifest?.circuits[id];
    if (!manifest || !entry) continue;
    const vkey = await loadPinnedVkey(keysDir, id);
    views.push({
      circuitId: id,
      vkeyHash: vkeyHash(vkey),
      nPublic: entry.nPublic,
      constraints: entry.constraints,
      insecure: manifest.insecure,
      vkey,
    });
  }
  return views;
}

/** Development builds are serialised: two registrations never pin into the keys manifest at once. */
let devBuilds: Promise<unknown> = Promise.resolve();

/**
 * The pinned chain circuits for a schema and layout; in development mode, builds INSECURE development keys
 * for the missing ones first (see the module comment).
 */
export async function ensureChainCircuits(
  config: ServiceConfig,
  schema: Schema,
  layout: ChunkLayout,
  slots: QuerySlots,
  progress?: Progress,
): Promise<DpChainCircuits> {
  const ids = chainCircuitIds(schema, layout, slots, config.noise, config.pass, config.release);
  if (config.mode === "development") {
    const build = devBuilds.then(() => buildMissingDevKeys(config, ids, progress));
    devBuilds = build.catch(() => {});
    await build;
  }
  return pinnedDpChainCircuits(config, ids);
}

async function buildMissingDevKeys(
  config: ServiceConfig,
  ids: ChainCircuitIds,
  progress?: Progress,
): Promise<void> {
  const manifest = await readKeysManifest(config.keysDir);
  const pinned = (id: string) => manifest?.circuits[id] !== undefined;
  const pass = ids.pass;
  const passMains = [
    ...(pass === undefined || (pinned(pass.stepId) && pinned(pass.finalId))
      ? []
      : await ensurePassMainFiles(pass.shape)),
    ...(pass?.noisy === undefined || pinned(pass.noisy.finalId)
      ? []
      : [await ensureNoisyPassFinalMainFile(pass.noisy.shape)]),
  ];
  const release = ids.release;
  const releaseMains = [
    ...(release === undefined || pinned(release.stepId)
      ? []
      : (await ensurePassMainFiles(release.shape.pass)).slice(0, 1)),
    ...(release === undefined || pinned(release.finalId)
      ? []
      : [await ensureNoisyPassFinalMainFile(release.shape)]),
  ];
  const mains = [
    ...(pinned(ids.chunkId) ? [] : [await ensureChunkMainFile(ids.shape)]),
    ...(pinned(ids.finalId) ? [] : [await ensureFinalMainFile(finalShapeOf(ids.shape))]),
    ...(pinned(ids.clampChunkId) ? [] : [await ensureChunkMainFile(ids.clampShape)]),
    ...(pinned(ids.noisyFinalId) ? [] : [await ensureNoisyFinalMainFile(ids.noisyShape)]),
    ...[...new Set([...passMains, ...releaseMains])],
  ];
  if (mains.length === 0) return;
  const buildDir = config.buildDir;
  const pinnedPower = manifest?.ptau.power;
  for (const main of mains) {
    const compiled = await compileCircuit(main, { buildDir });
    const needed = requiredPtauPower(compiled);
    if (pinnedPower !== undefined && needed > pinnedPower) {
      throw new ConflictError(
        "circuit_keys_missing",
        `circuit ${compiled.id} needs a ptau of power ${needed}, but the keys in ${config.keysDir} share a ptau of power ${pinnedPower}`,
        {
          hint: "rebuild the development keys with a larger ptau for every circuit (or register with a smaller chunkSize)",
        },
      );
    }
  }
  await buildDevKeys(mains, {
    keysDir: config.keysDir,
    ...(buildDir === undefined ? {} : { buildDir }),
    ...(pinnedPower === undefined ? {} : { minPtauPower: pinnedPower }),
    ...(progress === undefined ? {} : { progress }),
  });
}
