/**
 * @module cli/demo
 *
 * `npm start`: the end-to-end demo on the embedded defaults. Builds the default circuit and its development
 * keys on first run (cached afterwards), commits the sample Wikimedia-shaped dataset, signs its manifest,
 * answers a count, a sum, a threshold, a membership and a suppressed query with proofs, writes each as a
 * proof bundle, verifies every bundle with the standalone verifier SDK (pinned key, operator public key,
 * public signals recomputed from the manifest) and prints a table.
 *
 * Development mode: the keys are the demo's own INSECURE development keys, so verification passes
 * `allowInsecureKeys` explicitly (and the printed `zktally verify` line `--allow-insecure-keys`); the verifier
 * refuses such keys otherwise.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { circuitId } from "../circuits/shape.ts";
import { DATA_DIR, DEFAULT_SHAPE, KEYS_DIR, SAMPLE_DATA, SAMPLE_SCHEMA } from "../config/defaults.ts";
import { FIELD_ORDER } from "../core/field.ts";
import { commitFile } from "../dataset/committed.ts";
import { parseSchema } from "../dataset/schema.ts";
import { createProverBackend } from "../prover/backends.ts";
import { makeBundle, serializeBundle } from "../prover/bundle.ts";
import { formatChunkProgress } from "../prover/chunks.ts";
import { ProverPool } from "../prover/pool.ts";
import { proveQueryChunked, type QueryProof } from "../prover/prove-query.ts";
import { proverBackendName, resolveProverChoice } from "../prover/prover-choice.ts";
import { loadPinnedVkey, readKeysManifest } from "../setup/keys-manifest.ts";
import { consoleProgress } from "../util/progress.ts";
import { parseStrictJson } from "../util/strict-json.ts";
import { verify, vkeyHash } from "../verifier/index.ts";
import { ensureDevKeys } from "./dev-keys.ts";
import { loadOrCreateOperatorState } from "./operator-state.ts";
import { renderTable } from "./table.ts";

/** The demo runs on the embedded sample only (its queries name the sample's fields; `commit`/`query` take yours). */
export interface DemoOptions {
  /** `native` or `snarkjs` (default: `ZKTALLY_PROVER`, else native when built). */
  readonly prover?: string;
  readonly write?: (line: string) => void;
}

/** Policy of the demo partner: answers about fewer than 3 editors (or all but fewer than 3) are suppressed. */
const MIN_GROUP_SIZE = 3;

function demoQueries(memberId: number) {
  return [
    {
      label: "count",
      minGroupSize: MIN_GROUP_SIZE,
      query: {
        predicate: [
          { field: "wiki", op: "in", value: ["enwiki", "dewiki"] },
          { field: "bot", op: "eq", value: false },
          { field: "edits", op: "gte", value: 10 },
        ],
        aggregate: { kind: "count" },
      },
    },
    {
      label: "sum",
      minGroupSize: MIN_GROUP_SIZE,
      query: {
        predicate: [
          { field: "wiki", op: "eq", value: "enwiki" },
          { field: "bot", op: "eq", value: false },
        ],
        aggregate: { kind: "sum", field: "edits" },
      },
    },
    {
      label: "threshold",
      minGroupSize: MIN_GROUP_SIZE,
      query: {
        predicate: [{ field: "activity", op: "in", value: ["25-99", "100+"] }],
        aggregate: { kind: "threshold", k: 10 },
      },
    },
    {
      label: "membership",
      minGroupSize: 0,
      query: {
        predicate: [{ field: "registered", op: "between", value: [0, 9000] }],
        aggregate: { kind: "membership", key: memberId },
      },
    },
    {
      label: "suppressed",
      minGroupSize: MIN_GROUP_SIZE,
      query: {
        predicate: [{ field: "bot", op: "eq", value: true }],
        aggregate: { kind: "count" },
      },
    },
  ];
}

function formatAnswer(proof: QueryProof): string {
  if (proof.answer.suppressed) return `suppressed (< ${proof.minGroupSize})`;
  const value = proof.answer.value;
  return typeof value === "boolean" ? (value ? "yes" : "no") : Number(value).toLocaleString("en-US");
}

export async function runDemo(options: DemoOptions = {}): Promise<boolean> {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const progress = consoleProgress({ tag: "zktally" });
  const shape = DEFAULT_SHAPE;
  const id = circuitId(shape);

  progress("setup", `circuit ${id} and its INSECURE development keys (built once, then cached)`);
  await ensureDevKeys(shape, KEYS_DIR, progress);

  const operator = await loadOrCreateOperatorState(DATA_DIR);
  const schema = parseSchema(parseStrictJson(await readFile(SAMPLE_SCHEMA, "utf8"), SAMPLE_SCHEMA));
  progress("commit", "loading and committing the sample dataset");
  const dataset = await commitFile(SAMPLE_DATA, {
    datasetId: "wikimedia-editors-sample",
    epoch: 1,
    schema,
    layout: shape,
    secret: operator.datasetSecret,
    operatorSecretKey: operator.operatorSecretKey,
    circuits: [id],
  });
  const { manifest } = dataset;
  progress("commit", `${manifest.recordCount} records, root ${manifest.root.slice(0, 16)}…, manifest signed`);

  const engine = resolveProverChoice(options.prover ?? process.env.ZKTALLY_PROVER, (line) =>
    progress("prove", line),
  );
  const backend = createProverBackend(proverBackendName(engine, "in-process"), { keysDir: KEYS_DIR });
  progress("prove", `prover: ${backend.name}`);
  // A pool of one in-process backend: each query is a chunk job, progress is printed per chunk.
  const prover = new ProverPool({ size: 1, create: () => backend });
  const vkey = await loadPinnedVkey(KEYS_DIR, id);
  const keysManifest = await readKeysManifest(KEYS_DIR);
  const pinnedVkeyHash = vkeyHash(vkey);
  const bundleDir = join(DATA_DIR, "bundles");
  await mkdir(bundleDir, { recursive: true });
  const memberId = Number(dataset.records[0]?.[0] ?? 0n);
  const rows: string[][] = [];
  let allValid = true;
  try {
    for (const { label, query, minGroupSize } of demoQueries(memberId)) {
      progress("prove", label);
      const nonce = BigInt(`0x${randomBytes(32).toString("hex")}`) % FIELD_ORDER;
      const proof = await proveQueryChunked(
        prover,
        `demo-${label}`,
        { dataset, shape, query, minGroupSize, nonce },
        (chunks) => progress("prove", `${label}: ${formatChunkProgress(chunks)}`),
      );
      const bundle = makeBundle(proof, manifest, pinnedVkeyHash);
      const bundlePath = join(bundleDir, `${label}.json`);
      await writeFile(bundlePath, serializeBundle(bundle).text);
      // Verify as a partner would: the bundle's text as read back from disk (read strictly by the SDK), the
      // pinned key, the operator's public key.
      const started = performance.now();
      const check = verify(await readFile(bundlePath, "utf8"), {
        keys: { [id]: vkey },
        keysManifest,
        operatorKey: operator.operatorPublicKey,
        // The demo runs in development mode on its own INSECURE keys, and says so; a partner never would.
        allowInsecureKeys: true,
      });
      const verifyMs = performance.now() - started;
      allValid &&= check.valid;
      rows.push([
        label,
        proof.statement,
        formatAnswer(proof),
        `${((proof.timings.witnessMs + proof.timings.proveMs) / 1000).toFixed(2)} s`,
        check.valid ? `valid (${verifyMs.toFixed(0)} ms)` : `INVALID: ${check.reason}`,
      ]);
    }
  } finally {
    await prover.close();
  }
  write("");
  write(
    `Dataset ${manifest.datasetId} epoch ${manifest.epoch}: ${manifest.recordCount} records committed under`,
  );
  write(`root ${manifest.root}`);
  write(`Circuit ${id}, keys pinned in keys/manifest.json (INSECURE development setup)`);
  write("");
  for (const line of renderTable(["aggregate", "statement", "answer", "prove", "verify"], rows)) write(line);
  write("");
  write(allValid ? "All proofs verified." : "Some proofs did NOT verify.");
  write("");
  write(
    `Proof bundles: ${relative(process.cwd(), bundleDir) || "."}/*.json — check one offline, as a partner would:`,
  );
  write(
    `  npm run zktally -- verify ${relative(process.cwd(), join(bundleDir, "count.json"))} --keys ${relative(process.cwd(), KEYS_DIR) || "."} --operator-key ${operator.operatorPublicKey} --allow-insecure-keys`,
  );
  write("  (development keys: without --allow-insecure-keys the verifier refuses them, exit code 3)");
  return allValid;
}
