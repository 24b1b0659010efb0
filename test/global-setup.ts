/**
 * Vitest global setup: builds the development keys of the test circuits once, before any test file runs, so
 * parallel test files never race to generate the same ptau or zkey.
 */
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import { consoleProgress } from "../src/util/progress.ts";
import { buildTestKeys } from "./helpers/keys.ts";

export default async function setup(): Promise<void> {
  await buildTestKeys(consoleProgress({ tag: "test-setup" }));
  await terminateCurveWorkers();
}
