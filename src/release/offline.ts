/**
 * @module release/offline
 *
 * `zktally release` without a running service (docs/privacy.md "Releases"): an operator's batch publication
 * of a geoeditors-style table from a dataset file. Loads and commits the records (chunked, salts from the
 * operator's dataset secret), signs a manifest committing to the noise seed and announcing the release
 * circuits (the PassStep of one table per pass and its PassFinalNoisy, NMAX fitted to the risk list's tiers),
 * proves the release (`buildRelease`) and writes `manifest.json`, `release.json` and `release.tsv` to the
 * output directory. `--dev` builds INSECURE development keys for missing circuits; otherwise both circuits
 * must be pinned in the keys directory (`zktally setup`).
 *
 * Security caveats: the records, salts and the noise seed stay in this process; the outputs hold the signed
 * manifest, proofs and noisy values only.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { planNoise } from "../circuits/noise.ts";
import { commitChunks } from "../dataset/chunk-commit.ts";
import { type ChunkLayout, fieldDomains } from "../dataset/chunk-layout.ts";
import { chunkLayoutFor } from "../dataset/chunked.ts";
import { getPoseidon } from "../dataset/commitment.ts";
import { loadDataset } from "../dataset/load.ts";
import { buildChunkedManifest } from "../dataset/manifest.ts";
import { signManifest } from "../dataset/manifest-sign.ts";
import { deriveNoiseSecret, noiseSeedCommitment } from "../dataset/noise-seed.ts";
import { keyFieldIndex, type Schema } from "../dataset/schema.ts";
import { createSnarkjsBackend } from "../prover/snarkjs-backend.ts";
import { buildDevKeys } from "../setup/index.ts";
import { readKeysManifest } from "../setup/keys-manifest.ts";
import { ensureNoisyPassFinalMainFile, ensurePassMainFiles } from "../setup/main-files.ts";
import { terminateCurveWorkers } from "../setup/ptau.ts";
import { enumValues, type ReleaseFields } from "../verifier/release.ts";
import { buildRelease, releaseCircuitIds } from "./release.ts";
import { parseRiskList, type RiskList } from "./risk.ts";

export interface OfflineReleaseOptions {
  readonly dataFile: string;
  readonly schema: Schema;
  readonly datasetId: string;
  readonly epoch: number;
  readonly riskText: string;
  readonly threshold: number;
  readonly fields: ReleaseFields;
  readonly outDir: string;
  readonly keysDir: string;
  readonly operator: { readonly operatorSecretKey: Uint8Array; readonly datasetSecret: Uint8Array };
  readonly dev: boolean;
  readonly nonce: bigint;
  readonly layout?: Partial<Omit<ChunkLayout, "version">>;
  /** Tables per pass (Q = H); default 1. */
  readonly tablesPerPass?: number;
  readonly createdAt?: Date;
}

/** Fewest coins (at most 2 scale bits) that give every tier its (epsilon, delta) at sensitivity 1. */
export function coinsForTiers(risk: RiskList): number {
  const plans = risk.tiers.map(
    (tier) =>
      planNoise(
        { epsilon: Number(tier.epsilon), delta: Number(tier.delta), sensitivity: 1n },
        { maxCoins: 65534, maxScaleBits: 2 },
      ).params.coins,
  );
  return Math.max(2, ...plans);
}

async function keysFor(options: OfflineReleaseOptions, mains: readonly string[], ids: readonly string[]) {
  if (options.dev) await buildDevKeys(mains, { keysDir: options.keysDir, replace: true });
  const manifest = await readKeysManifest(options.keysDir);
  const missing = ids.filter((id) => manifest?.circuits[id] === undefined);
  if (missing.length > 0) {
    throw new RangeError(
      `no pinned keys for ${missing.join(" and ")} in ${options.keysDir}: set them up (zktally setup) or pass --dev`,
    );
  }
  return {
    step: manifest?.circuits[ids[0] as string]?.vkeySha256 as string,
    final: manifest?.circuits[ids[1] as string]?.vkeySha256 as string,
  };
}

/** Proves and writes a release (see the module comment); returns the files written and the row counts. */
export async function offlineRelease(options: OfflineReleaseOptions) {
  const { schema, fields } = options;
  const risk = parseRiskList(options.riskText, enumValues(schema, fields.country));
  const layout = chunkLayoutFor(schema, options.layout);
  const limits = { maxCoins: coinsForTiers(risk), maxScaleBits: 2 };
  const circuits = releaseCircuitIds(schema, layout, fields, options.tablesPerPass ?? 1, limits);
  const { slots, shape } = circuits;
  const pass = shape.pass;
  const ids = [circuits.stepId, circuits.finalId];
  const [stepMain] = await ensurePassMainFiles(pass);
  const vkeyHashes = await keysFor(options, [stepMain, await ensureNoisyPassFinalMainFile(shape)], ids);
  const loaded = await loadDataset(options.dataFile, schema);
  const key = keyFieldIndex(schema);
  const records =
    key === undefined
      ? loaded.records
      : [...loaded.records].sort((a, b) => ((a[key] as bigint) < (b[key] as bigint) ? -1 : 1));
  const poseidon = await getPoseidon();
  const { datasetId, epoch } = options;
  const committed = commitChunks(poseidon, {
    layout,
    domains: fieldDomains(schema),
    keyField: pass.chunk.keyField,
    records,
    secret: options.operator.datasetSecret,
    datasetId,
    epoch,
  });
  const secret = deriveNoiseSecret(options.operator.datasetSecret, datasetId, epoch);
  const createdAt = options.createdAt ?? new Date();
  const manifest = signManifest(
    buildChunkedManifest({
      datasetId,
      epoch,
      schema,
      recordCount: records.length,
      layout,
      root: committed.root,
      circuits: ids,
      createdAt,
      noiseCommitment: noiseSeedCommitment(poseidon, secret),
    }),
    options.operator.operatorSecretKey,
  );
  const backend = createSnarkjsBackend({ keysDir: options.keysDir });
  try {
    const release = await buildRelease({
      manifest,
      committed,
      records,
      fields,
      risk,
      threshold: options.threshold,
      nonce: options.nonce,
      slots,
      noise: { secret, limits },
      vkeyHashes,
      prover: backend,
      createdAt,
    });
    await mkdir(options.outDir, { recursive: true });
    const files = {
      manifest: join(options.outDir, "manifest.json"),
      release: join(options.outDir, "release.json"),
      tsv: join(options.outDir, "release.tsv"),
    };
    await writeFile(files.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
    await writeFile(files.release, `${JSON.stringify(release.document)}\n`);
    await writeFile(files.tsv, release.tsv);
    return { files, rows: release.rows, withheld: release.withheld, circuits: ids };
  } finally {
    await backend.close();
    await terminateCurveWorkers();
  }
}
