/**
 * @module cli/dev-keys
 *
 * Keys for the embedded defaults (bench/constraints.ts): builds (or reuses from the cache) INSECURE development keys for a circuit
 * shape in the keys directory — unless that directory holds production keys (`insecure: false`, from a
 * ceremony ptau or a multi-party phase 2), which are never replaced with insecure ones.
 */

import { type AggregateShape, circuitId } from "../circuits/shape.ts";
import { buildDevKeys } from "../setup/index.ts";
import { readKeysManifest } from "../setup/keys-manifest.ts";
import { ensureMainFile } from "../setup/main-files.ts";
import type { Progress } from "../util/progress.ts";

export async function ensureDevKeys(
  shape: AggregateShape,
  keysDir: string,
  progress: Progress,
): Promise<void> {
  const id = circuitId(shape);
  const main = await ensureMainFile(shape);
  const pinned = await readKeysManifest(keysDir);
  if (pinned && !pinned.insecure) {
    if (!pinned.circuits[id]) {
      throw new Error(
        `${keysDir} holds production keys without circuit ${id}; set ZKTALLY_KEYS_DIR to another directory for development keys`,
      );
    }
    progress("setup", `using the pinned production keys of ${id}`);
    return;
  }
  await buildDevKeys([main], { keysDir, progress, replace: true });
}
