/**
 * @module test/helpers/release-service
 *
 * Fixtures of the release endpoint tests (test/release-endpoint.test.ts): the release test schema as an admin
 * uploads it (test/helpers/circuits.ts RELEASE_TEST_SCHEMA), the service configuration whose release circuits
 * are the release tests' own (RELEASE_TEST_SHAPE: S = 16, H = 2 tables, G = 8 cells, 128 coins), and one keys
 * directory holding every circuit the service pins for it (the served test circuit, the chain circuits of the
 * schema and the two release circuits) on one development ptau, built in one go so repeated runs hit the
 * compile and zkey caches.
 */
import { join } from "node:path";
import { finalShapeOf } from "../../src/circuits/chunk-shape.ts";
import { chainCircuitIds } from "../../src/service/chunk-circuits.ts";
import type { ServiceConfigInput } from "../../src/service/config.ts";
import { buildDevKeys } from "../../src/setup/index.ts";
import {
  ensureChunkMainFile,
  ensureFinalMainFile,
  ensureMainFile,
  ensureNoisyFinalMainFile,
  ensureNoisyPassFinalMainFile,
  ensurePassMainFiles,
} from "../../src/setup/main-files.ts";
import { buildRoot } from "../../src/setup/paths.ts";
import { TEST_CHUNKS } from "./chunked-service.ts";
import { RELEASE_TEST_SCHEMA, RELEASE_TEST_SHAPE, TEST_SHAPE } from "./circuits.ts";

/** RELEASE_TEST_SCHEMA as JSON. */
export const RELEASE_SCHEMA_JSON = {
  fields: [
    { name: "userId", type: "uint", bits: 16 },
    { name: "wiki", type: "enum", values: ["enwiki", "frwiki"] },
    { name: "country", type: "enum", values: ["DE", "FR", "US", "IN"] },
    { name: "activity", type: "enum", values: ["5 to 99", "100 or more"] },
    { name: "edits", type: "uint", bits: 16 },
  ],
  key: "userId",
};

/** The noisy final of the chain circuits (config `noise`): small, the release's circuits are the large ones. */
const NOISE = { maxCoins: 16, maxScaleBits: 2 };

/** The service configuration of the release tests (release budget: `budget`). */
export function releaseServiceConfig(keysDir: string, budget: { epsilon: number; delta: number }) {
  return {
    keysDir,
    chunks: TEST_CHUNKS,
    noise: NOISE,
    requestTimeoutMs: 600_000,
    release: {
      tablesPerPass: RELEASE_TEST_SHAPE.pass.histogramSlots,
      maxCoins: RELEASE_TEST_SHAPE.maxCoins,
      maxScaleBits: RELEASE_TEST_SHAPE.maxScaleBits,
      budget,
    },
  } satisfies Partial<ServiceConfigInput>;
}

/** Builds (or reuses) the keys directory `name` under build/ with every circuit the release service pins. */
export async function releaseServiceKeys(name: string): Promise<string> {
  const keysDir = join(buildRoot(), name);
  const chain = chainCircuitIds(RELEASE_TEST_SCHEMA, RELEASE_TEST_SHAPE.pass.chunk.layout, TEST_SHAPE, NOISE);
  const [releaseStep] = await ensurePassMainFiles(RELEASE_TEST_SHAPE.pass);
  const mains = [
    await ensureMainFile(TEST_SHAPE),
    await ensureChunkMainFile(chain.shape),
    await ensureFinalMainFile(finalShapeOf(chain.shape)),
    await ensureChunkMainFile(chain.clampShape),
    await ensureNoisyFinalMainFile(chain.noisyShape),
    releaseStep,
    await ensureNoisyPassFinalMainFile(RELEASE_TEST_SHAPE),
  ];
  await buildDevKeys(mains, { keysDir, replace: true });
  return keysDir;
}
