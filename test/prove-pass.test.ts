/**
 * End to end: multi-query passes (Q = 3 queries: DNF predicates, between in two clause slots, avg, one- and
 * two-field histograms with and without suppression) over random chunked datasets (chains of 2-3 chunks and
 * one single-chunk pass) are proven with snarkjs (development keys of the pass
 * test circuits), written as pass bundles and verified by the SDK (`verifyPass`), whose answers must be the
 * reference evaluator's; edited bundles (answers swapped between queries, a hidden cell shown, a cell moved)
 * are rejected.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { passCircuitId, passFinalCircuitId } from "../src/circuits/pass-shape.ts";
import { commitChunks } from "../src/dataset/chunk-commit.ts";
import { getPoseidon } from "../src/dataset/commitment.ts";
import { buildChunkedManifest } from "../src/dataset/manifest.ts";
import { signManifest } from "../src/dataset/manifest-sign.ts";
import { provePass } from "../src/prover/prove-pass.ts";
import { createSnarkjsBackend, type SnarkjsBackend } from "../src/prover/snarkjs-backend.ts";
import type { PassQuery } from "../src/query/pass.ts";
import { evaluatePass } from "../src/query/pass-evaluate.ts";
import { buildDevKeys } from "../src/setup/index.ts";
import { loadPinnedVkey } from "../src/setup/keys-manifest.ts";
import { ensurePassMainFiles } from "../src/setup/main-files.ts";
import { buildRoot } from "../src/setup/paths.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import {
  type ParsedPassBundle,
  type PassBundle,
  type VerifyOptions,
  verifyPass,
  vkeyHash,
} from "../src/verifier/index.ts";
import { describePassAnswer, passAnswerOf } from "../src/verifier/pass-bundle.ts";
import { OPERATOR_KEY, OPERATOR_SECRET } from "./helpers/bundles.ts";
import { CHUNK_TEST_SCHEMA, PASS_TEST_SHAPE } from "./helpers/circuits.ts";
import { createRng, randomRecords } from "./helpers/random.ts";

const shape = PASS_TEST_SHAPE;
const schema = CHUNK_TEST_SCHEMA;
const keysDir = join(buildRoot(), "test-keys-pass");
const slots = { clauses: 3, setSize: 3, queries: 3, histogramSlots: 2, cells: 16 };
let backend: SnarkjsBackend;
let options: VerifyOptions;
let hashes: { step: string; final: string };
const bundles: { parsed: ParsedPassBundle; queries: PassQuery[]; records: bigint[][]; g: number }[] = [];

const PASSES: { g: number; queries: PassQuery[] }[] = [
  {
    g: 0,
    queries: [
      { predicate: [], aggregate: { kind: "histogram", by: ["country", "bot"] } },
      {
        predicate: [{ field: "bot", op: "eq", value: false }],
        aggregate: { kind: "histogram", by: ["country"], sum: "edits" },
      },
      {
        predicate: {
          anyOf: [[{ field: "country", op: "eq", value: "FR" }], [{ field: "level", op: "gte", value: 100 }]],
        },
        aggregate: { kind: "avg", field: "edits" },
      },
    ],
  },
  {
    g: 3,
    queries: [
      { predicate: [], aggregate: { kind: "histogram", by: ["country", "bot"] } },
      {
        predicate: [{ field: "edits", op: "gte", value: 1000 }],
        aggregate: { kind: "histogram", by: ["country"] },
      },
      { predicate: [], aggregate: { kind: "sum", field: "edits" } },
    ],
  },
  {
    g: 2,
    queries: [
      {
        predicate: {
          anyOf: [
            [{ field: "bot", op: "eq", value: true }],
            [{ field: "country", op: "in", value: ["DE", "JP"] }],
          ],
        },
        aggregate: { kind: "histogram", by: ["bot"] },
      },
      {
        predicate: [
          { field: "level", op: "between", value: [10, 200] },
          { field: "bot", op: "eq", value: false },
        ],
        aggregate: { kind: "count" },
      },
    ],
  },
  {
    g: 0,
    queries: [
      { predicate: [{ field: "country", op: "neq", value: "US" }], aggregate: { kind: "threshold", k: 10 } },
      { predicate: [], aggregate: { kind: "avg", field: "level" } },
      { predicate: [{ field: "bot", op: "eq", value: true }], aggregate: { kind: "count" } },
    ],
  },
  {
    g: 4,
    queries: [{ predicate: [], aggregate: { kind: "histogram", by: ["bot", "country"], sum: "level" } }],
  },
];

beforeAll(async () => {
  const built = await buildDevKeys(await ensurePassMainFiles(shape), { keysDir, replace: true });
  const [stepId, finalId] = built.circuits.map((circuit) => circuit.compiled.id) as [string, string];
  expect([stepId, finalId]).toEqual([passCircuitId(shape), passFinalCircuitId(shape)]);
  backend = createSnarkjsBackend({ keysDir });
  const stepVkey = await loadPinnedVkey(keysDir, stepId);
  const finalVkey = await loadPinnedVkey(keysDir, finalId);
  hashes = { step: vkeyHash(stepVkey), final: vkeyHash(finalVkey) };
  options = {
    keys: { [stepId]: stepVkey, [finalId]: finalVkey },
    keysManifest: JSON.parse(await readFile(join(keysDir, "manifest.json"), "utf8")),
    operatorKey: OPERATOR_KEY,
    allowInsecureKeys: true,
  };
  const poseidon = await getPoseidon();
  const rng = createRng(31337);
  for (const [run, { g, queries }] of PASSES.entries()) {
    const S = shape.chunk.layout.chunkSize;
    // the last pass fits one chunk (a chain of one step and the final), the others take 2 or 3
    const count = run === PASSES.length - 1 ? rng.int(S - 5, S) : rng.int(S + 3, 3 * S - 1);
    const records = randomRecords(rng, schema, count).sort((a, b) =>
      (a[0] as bigint) < (b[0] as bigint) ? -1 : 1,
    );
    const committed = commitChunks(poseidon, {
      layout: shape.chunk.layout,
      domains: shape.chunk.domains,
      keyField: shape.chunk.keyField,
      records,
      secret: new Uint8Array(32).fill(run + 1),
      datasetId: `pass-${run}`,
      epoch: 1,
    });
    const manifest = signManifest(
      buildChunkedManifest({
        datasetId: `pass-${run}`,
        epoch: 1,
        schema,
        recordCount: committed.recordCount,
        layout: shape.chunk.layout,
        root: committed.root,
        circuits: [stepId, finalId],
        createdAt: "2026-12-01T10:00:00Z",
      }),
      OPERATOR_SECRET,
    );
    const parsed = await provePass({
      manifest,
      committed,
      records,
      queries,
      nonce: 1000n + BigInt(run),
      minGroupSize: g,
      slots,
      vkeyHashes: hashes,
      prover: backend,
    });
    bundles.push({ parsed, queries, records, g });
  }
}, 1_500_000);

afterAll(async () => {
  await backend?.close();
  await terminateCurveWorkers();
});

function rejected(bundle: unknown) {
  const result = verifyPass(bundle, options);
  expect(result.valid).toBe(false);
  return result;
}

/** The bundle with its statements rewritten to match its (edited) answers, as a forger would. */
function withStatements(bundle: Omit<PassBundle, "answers"> & { answers: readonly unknown[] }): PassBundle {
  const answers = bundle.answers as PassBundle["answers"];
  return {
    ...bundle,
    answers,
    statements: bundle.queries.map((query, q) =>
      describePassAnswer(query, answers[q] as PassBundle["answers"][number], schema, bundle.minGroupSize),
    ),
  };
}

describe("pass bundles proven with snarkjs", () => {
  it("5 passes verify with the reference evaluator's answers and say them in words", () => {
    expect(bundles).toHaveLength(5);
    expect(bundles.map(({ parsed }) => parsed.bundle.chunks.length > 1)).toEqual([
      true,
      true,
      true,
      true,
      false,
    ]);
    for (const { parsed, queries, records, g } of bundles) {
      const result = verifyPass(parsed.bundle, options);
      if (!result.valid) throw new Error(result.reason);
      const reference = evaluatePass(queries, schema, records, g);
      expect(result.answers).toEqual(
        parsed.bundle.queries.map((query, q) =>
          passAnswerOf(query, reference[q] as (typeof reference)[number], schema),
        ),
      );
      expect(result.statements).toHaveLength(queries.length);
      expect(JSON.parse(JSON.stringify(result.answers))).toEqual(result.answers);
    }
    const withHidden = bundles[1]?.parsed.bundle.answers[0];
    expect(JSON.stringify(withHidden)).toMatch(/"hidden":true/);
    expect(bundles[0]?.parsed.bundle.statements[0]).toMatch(
      /^count of records per country × bot over all records: DE\/false /,
    );
  });

  it("answers swapped between queries, a hidden cell shown or a cell moved are rejected", () => {
    const bundle = bundles[1]?.parsed.bundle as PassBundle;
    const answers = bundle.answers;
    const histogram = answers[0] as Extract<PassBundle["answers"][number], { kind: "histogram" }>;
    const swapped = { ...bundle, answers: [answers[1], answers[0], answers[2]] };
    expect(() => verifyPass(swapped, options)).toThrow();
    const hiddenAt = histogram.cells.findIndex((cell) => "hidden" in cell);
    const shownAt = histogram.cells.findIndex((cell) => "value" in cell);
    const cells = [...histogram.cells];
    cells[hiddenAt] = { cell: cells[hiddenAt]?.cell ?? [], value: "1" };
    const shown = { ...bundle, answers: [{ ...histogram, cells }, answers[1], answers[2]] };
    expect(rejected(shown)).toMatchObject({ check: "statement" });
    expect(rejected(withStatements(shown))).toMatchObject({ check: "chain", at: "final" });
    const moved = [...histogram.cells];
    const shownCell = moved[shownAt] as { cell: (string | boolean)[]; value: string };
    moved[shownAt] = { cell: shownCell.cell, value: String(BigInt(shownCell.value) - 1n) };
    const other = moved.findIndex((cell, g) => g !== shownAt && "value" in cell);
    const otherCell = moved[other] as { cell: (string | boolean)[]; value: string };
    moved[other] = { cell: otherCell.cell, value: String(BigInt(otherCell.value) + 1n) };
    const movedAnswers = [{ ...histogram, cells: moved }, answers[1], answers[2]];
    const movedBundle = withStatements({ ...bundle, answers: movedAnswers });
    expect(rejected(movedBundle)).toMatchObject({ check: "chain", at: "final" });
  });

  it("the final proof of one pass does not close another's chain", () => {
    const a = bundles[0]?.parsed.bundle as PassBundle;
    const b = bundles[3]?.parsed.bundle as PassBundle;
    expect(rejected({ ...a, final: b.final })).toMatchObject({ check: "chain", at: "final" });
  });
});
