/**
 * @module test/helpers/keys
 *
 * Development keys for the test circuit shapes, built once per test run by test/global-setup.ts into the
 * build cache (INSECURE dev ptau, random phase-2 contribution + beacon) and pinned in build/test-keys.
 */
import { join } from "node:path";
import { buildDevKeys } from "../../src/setup/index.ts";
import { ensureMainFile } from "../../src/setup/main-files.ts";
import { buildRoot } from "../../src/setup/paths.ts";
import type { Progress } from "../../src/util/progress.ts";
import { TEST_SHAPE } from "./circuits.ts";

export const TEST_KEYS_DIR = join(buildRoot(), "test-keys");

export async function buildTestKeys(progress?: Progress) {
  const main = await ensureMainFile(TEST_SHAPE);
  return buildDevKeys([main], { keysDir: TEST_KEYS_DIR, progress, replace: true });
}
