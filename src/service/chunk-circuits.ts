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
  chunkShapeFor,
  finalCircuitId,
  finalShapeOf,
} from "../circuits/chunk-shape.ts";
import type { ChunkLayout } from "../dataset/chunk-layout.ts";
import type { Schema } from "../dataset/schema.ts";
import { compileCircuit } from "../setup/compile.ts";
import { buildDevKeys } from "../setup/index.ts";
import { loadPinnedVkey, readKeysManifest } from "../setup/keys-manifest.ts";
import { ensureChunkMainFile, ensureFinalMainFile } from "../setup/main-files.ts";
import { vkeyHash } from "../setup/phase2.ts";
import { requiredPtauPower } from "../setup/ptau.ts";
import { ConflictError } from "../util/errors.ts";
import type { ServiceConfig } from "./config.ts";

/** Query capacity of the chain circuits: the served circuit's clause slots and set size. */
export interface QuerySlots {
  readonly clauses: number;
  readonly setSize: number;
}

export interface ChainCircuitIds {
  readonly shape: ChunkShape;
  readonly chunkId: string;
  readonly finalId: string;
}

/** Pinned chain circuits: ids and the hashes of their verification keys. */
export interface ChainCircuits extends ChainCircuitIds {
  readonly chunkVkeyHash: string;
  readonly finalVkeyHash: string;
}

/** The chunk and final circuit ids for a schema and layout under the served query capacity. */
export function chainCircuitIds(schema: Schema, layout: ChunkLayout, slots: QuerySlots): ChainCircuitIds {
  const shape = chunkShapeFor(schema, layout, { clauses: slots.clauses, setSize: slots.setSize });
  return { shape, chunkId: chunkCircuitId(shape), finalId: finalCircuitId(finalShapeOf(shape)) };
}

function keysMissing(config: ServiceConfig, ids: readonly string[]): ConflictError {
  return new ConflictError(
    "circuit_keys_missing",
    `no pinned keys for circuit ${ids.join(" and ")} in ${config.keysDir}: a chunked dataset needs its chunk and final circuits set up`,
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
  const manifest = await readKeysManifest(config.keysDir);
  const missing = [ids.chunkId, ids.finalId].filter((id) => manifest?.circuits[id] === undefined);
  if (missing.length > 0) throw keysMissing(config, missing);
  if (manifest?.insecure && config.mode !== "development") {
    throw new ConflictError(
      "insecure_keys",
      `the keys of ${ids.chunkId} in ${config.keysDir} are INSECURE development keys; production mode refuses them`,
      { hint: "set up production keys (zktally setup --ptau FILE, zktally ceremony)" },
    );
  }
  const [chunkVkey, finalVkey] = await Promise.all([
    loadPinnedVkey(config.keysDir, ids.chunkId),
    loadPinnedVkey(config.keysDir, ids.finalId),
  ]);
  return { ...ids, chunkVkeyHash: vkeyHash(chunkVkey), finalVkeyHash: vkeyHash(finalVkey) };
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
): Promise<ChainCircuits> {
  const ids = chainCircuitIds(schema, layout, slots);
  if (config.mode === "development") {
    const build = devBuilds.then(() => buildMissingDevKeys(config, ids));
    devBuilds = build.catch(() => {});
    await build;
  }
  return pinnedChainCircuits(config, ids);
}

async function buildMissingDevKeys(config: ServiceConfig, ids: ChainCircuitIds): Promise<void> {
  const manifest = await readKeysManifest(config.keysDir);
  const mains = [
    ...(manifest?.circuits[ids.chunkId] ? [] : [await ensureChunkMainFile(ids.shape)]),
    ...(manifest?.circuits[ids.finalId] ? [] : [await ensureFinalMainFile(finalShapeOf(ids.shape))]),
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
  });
}
