/**
 * @module test/helpers/chunked-service
 *
 * Fixtures of the service tests on chunked (v2) datasets: the chunk test schema as an admin uploads it, the
 * chunk layout of the chunk tests' cached keys (S = 16), distinctive rows with strictly increasing keys and
 * their encoded records, and a keys directory holding the served test circuit on the chunk tests' ptau
 * (2^13), so the service can pin development chain keys next to it.
 */
import { join } from "node:path";
import { parseJsonl } from "../../src/dataset/load.ts";
import { parseSchema } from "../../src/dataset/schema.ts";
import { buildDevKeys } from "../../src/setup/index.ts";
import { ensureMainFile } from "../../src/setup/main-files.ts";
import { buildRoot } from "../../src/setup/paths.ts";
import { TEST_SHAPE } from "./circuits.ts";

/** The chunk test schema (test/helpers/circuits.ts CHUNK_TEST_SCHEMA) as an admin uploads it. */
export const CHUNKED_SCHEMA_JSON = {
  fields: [
    { name: "userId", type: "uint", bits: 16 },
    { name: "country", type: "enum", values: ["DE", "FR", "JP", "US", "IN", "BR"] },
    { name: "edits", type: "uint", bits: 16 },
    { name: "bot", type: "bool" },
    { name: "level", type: "uint", bits: 8 },
  ],
  key: "userId",
};
export const CHUNKED_SCHEMA = parseSchema(CHUNKED_SCHEMA_JSON);

/** The service's chunk layout (config `chunks`) matching the chunk tests' keys: S = 16, B = 4, K = 1. */
export const TEST_CHUNKS = { size: 16, leafRecords: 4, treeDepth: 1 };

const COUNTRIES = ["DE", "FR", "JP", "US", "IN", "BR"] as const;

export type ChunkedRow = ReturnType<typeof chunkedRows>[number];

/** `count` rows with keys base, base + 7, ... (strictly increasing, as chunked datasets need). */
export function chunkedRows(count: number, base = 1000) {
  return Array.from({ length: count }, (_, i) => ({
    userId: base + 7 * i,
    country: COUNTRIES[(i * 5) % 6] as string,
    edits: (i * 37) % 500,
    bot: i % 5 === 0,
    level: (i * 11) % 256,
  }));
}

/** The rows encoded in schema order, as the reference evaluator takes them. */
export function encodedRecords(rows: readonly ChunkedRow[]): bigint[][] {
  return parseJsonl(rows.map((row) => JSON.stringify(row)).join("\n"), CHUNKED_SCHEMA, "rows").records;
}

/** A keys directory `name` under build/ with the served test circuit on a 2^13 development ptau. */
export async function chunkedServiceKeys(name: string): Promise<string> {
  const keysDir = join(buildRoot(), name);
  await buildDevKeys([await ensureMainFile(TEST_SHAPE)], { keysDir, minPtauPower: 13, replace: true });
  return keysDir;
}
