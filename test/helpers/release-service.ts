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
import { RELEASE_SCHEMA_JSON, RELEASE_TEST_SCHEMA, RELEASE_TEST_SHAPE, TEST_SHAPE } from "./circuits.ts";

/** RELEASE_TEST_SCHEMA as JSON (defined beside it in circuits.ts). */
export { RELEASE_SCHEMA_JSON };

const COUNTRIES = ["DE", "FR", "US", "IN"];
const LEVELS = ["5 to 99", "100 or more"];
/** 32 records: wiki i mod 2, country skewed to DE and FR, activity "100 or more" for every fourth. */
export const RELEASE_ROWS = Array.from({ length: 32 }, (_, i) => ({
  userId: 10 * i + 1,
  wiki: i % 2 === 0 ? "enwiki" : "frwiki",
  country: COUNTRIES[[0, 0, 1, 0, 1, 2, 0, 3][i % 8] as number],
  activity: LEVELS[i % 4 === 3 ? 1 : 0],
  edits: 5 + 3 * i,
}));

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

/**
 * Config `pass` whose served pass circuits are the release circuits (TEST_SHAPE's C = M = 3 with Q = H = 2,
 * G = 8) and whose dp histograms use the release's noisy final (128 coins): the dp pass tests
 * (test/service-dp-pass.test.ts) reuse the release tests' keys and add only the exact PassFinal.
 */
export const DP_PASS_CONFIG = {
  queries: RELEASE_TEST_SHAPE.pass.queries,
  histogramSlots: RELEASE_TEST_SHAPE.pass.histogramSlots,
  cells: RELEASE_TEST_SHAPE.pass.cells,
  dp: { maxCoins: RELEASE_TEST_SHAPE.maxCoins, maxScaleBits: RELEASE_TEST_SHAPE.maxScaleBits },
};

/**
 * Builds (or reuses) the keys directory `name` under build/ with every circuit the release service pins;
 * `withPassFinal` adds the exact PassFinal of the same pass shape (config `pass` = DP_PASS_CONFIG).
 */
export async function releaseServiceKeys(name: string, withPassFinal = false): Promise<string> {
  const keysDir = join(buildRoot(), name);
  const chain = chainCircuitIds(RELEASE_TEST_SCHEMA, RELEASE_TEST_SHAPE.pass.chunk.layout, TEST_SHAPE, NOISE);
  const [releaseStep, passFinal] = await ensurePassMainFiles(RELEASE_TEST_SHAPE.pass);
  const mains = [
    await ensureMainFile(TEST_SHAPE),
    await ensureChunkMainFile(chain.shape),
    await ensureFinalMainFile(finalShapeOf(chain.shape)),
    await ensureChunkMainFile(chain.clampShape),
    await ensureNoisyFinalMainFile(chain.noisyShape),
    releaseStep,
    await ensureNoisyPassFinalMainFile(RELEASE_TEST_SHAPE),
    ...(withPassFinal ? [passFinal] : []),
  ];
  await buildDevKeys(mains, { keysDir, replace: true });
  return keysDir;
}
