/**
 * @module core/formats
 *
 * Textual formats shared by every layer (browser-safe, import-free): identifiers that name datasets.
 */

/** A dataset id: 1..64 characters of [A-Za-z0-9._-] (design.md section 2; also a file-name component). */
export const DATASET_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** Throws `TypeError` unless `datasetId` is 1..64 characters of [A-Za-z0-9._-]. */
export function assertDatasetId(datasetId: unknown): asserts datasetId is string {
  if (typeof datasetId !== "string" || !DATASET_ID_PATTERN.test(datasetId)) {
    throw new TypeError(
      `datasetId must match ${DATASET_ID_PATTERN} (got ${JSON.stringify(String(datasetId))})`,
    );
  }
}
