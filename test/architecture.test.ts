/**
 * Dependencies point one way (docs/design.md, "Layers"). The import graph of src/ is checked against the rule
 * table below: each folder imports only the folders beneath it, the verifier SDK's runtime closure holds no
 * operator code and no Node.js built-ins, stores know no HTTP, and there are no cycles between folders or
 * files (type-only imports count for cycles and layers; they are erased only for the runtime closures). The
 * last block runs the same checks on a small fixture graph with deliberately wrong imports, so a rule that
 * silently stopped matching would fail here too.
 */
import { readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  cyclesOf,
  fileSuccessors,
  folderSuccessors,
  graphOfSources,
  graphOfTree,
  type ImportGraph,
  runtimeChain,
  runtimeClosure,
} from "./helpers/import-graph.ts";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * The layers, bottom to top: each folder of src/ and the folders it may import. A folder not listed here
 * is a violation until it is placed.
 */
const FOUNDATION = ["core", "util"];
/** The model operator and partners share: datasets, queries, circuit shapes and the verifier SDK. */
const MODEL = ["verifier", "circuits", "query", "dataset", "poseidon", ...FOUNDATION];
const OPERATOR = ["prover", "setup", "config", "audit", "storage", ...MODEL];
const LAYERS: Readonly<Record<string, readonly string[]>> = {
  core: [],
  util: [],
  poseidon: ["core"], // Poseidon on generated WebAssembly, for the commitment
  dataset: ["poseidon", ...FOUNDATION],
  query: ["dataset", ...FOUNDATION],
  circuits: ["query", "dataset", ...FOUNDATION],
  // audit: the browser-safe Merkle proofs and entry/head formats (key-chain receipts); never audit/store.
  verifier: ["circuits", "query", "dataset", "audit", ...FOUNDATION],
  storage: ["dataset", "poseidon", ...FOUNDATION], // key files, atomic writes, the chunk store
  audit: FOUNDATION,
  setup: ["storage", ...MODEL],
  config: ["setup", "circuits", ...FOUNDATION],
  prover: ["setup", "storage", ...MODEL],
  // BullMQ coordinator and worker: move chunk tasks over Redis, prove with a prover backend.
  distributed: ["prover", "storage", ...MODEL],
  // Geoeditors-style releases: proven noisy tables (prover) checked by the verifier's release rules.
  release: ["prover", "setup", "storage", ...MODEL],
  // The admin release endpoint proves with the same `buildRelease` as `zktally release`.
  service: ["distributed", "release", ...OPERATOR],
  cli: ["service", "distributed", "release", ...OPERATOR],
  // The package root (src/index.ts) re-exports the public API.
  ".": ["prover", "setup", "storage", ...MODEL],
};

/** Targets the verifier SDK must never reach at runtime: operator code, Node.js and heavy packages. */
const OPERATOR_ONLY = [
  /^src\/circuits\/aggregate-witness\.ts$/, // witness builder: every record and salt in clear
  /^src\/query\/(evaluate|named-keys)\.ts$/, // reference evaluator over private records; names -> hashed keys
  /^src\/dataset\/(salt|string-key|commitment|committed|chunk-commit|chunked|load|manifest-sign)\.ts$/, // salts, key hashing, commitments, loading, signing
  /^src\/(setup|prover|service|storage|cli|config|release)\//,
  /^src\/audit\/store\.ts$/,
  /^node:/,
  new RegExp(`^(${builtinModules.filter((name) => !name.startsWith("_")).join("|")})(/|$)`),
  /^(snarkjs|ffjavascript|circomlibjs|circom_runtime|express|web-worker|better-sqlite3|pino)(\/|$)/,
];
/** Packages the SDK may use at all: small, dependency-free, browser-ready. */
const SDK_PACKAGES = [/^@noble\/curves\//, /^@noble\/hashes\//, /^zod$/];

/** Persistence modules: they keep state and know nothing of HTTP (routes -> services -> stores). */
const STORES =
  /^src\/(service\/(jobs|datasets|partners|db|service-keys|sealed)\.ts|audit\/store\.ts|storage\/.*)$/;
const HTTP = /^(express|helmet|node:https?|src\/service\/(http|routes|admin|oauth|app|openapi|server)\.ts)$/;

/** The folder of src/ a file belongs to (`.` for files directly in src/). */
function folderOf(file: string): string {
  const parts = file.split("/");
  return parts.length > 2 ? (parts[1] as string) : ".";
}

function layerViolations(graph: ImportGraph): string[] {
  const problems: string[] = [];
  const unplaced = new Set<string>();
  for (const [file, edges] of graph) {
    const from = folderOf(file);
    const allowed = LAYERS[from];
    if (allowed === undefined) {
      if (!unplaced.has(from))
        problems.push(`layers: folder ${from} (${file}) has no place in the LAYERS table`);
      unplaced.add(from);
      continue;
    }
    for (const edge of edges) {
      if (!edge.local || folderOf(edge.to) === from || allowed.includes(folderOf(edge.to))) continue;
      problems.push(
        `layers: ${file} imports ${edge.to}${edge.typeOnly ? " (type-only)" : ""}, but ${from} may import only ` +
          `${allowed.length > 0 ? allowed.join(", ") : "itself"}`,
      );
    }
  }
  return problems;
}

function verifierViolations(graph: ImportGraph, entry = "src/verifier/index.ts"): string[] {
  const { files, packages } = runtimeClosure(graph, entry);
  const problems: string[] = [];
  for (const file of files) {
    if (OPERATOR_ONLY.some((pattern) => pattern.test(file))) {
      const chain = runtimeChain(graph, entry, file) ?? [entry, file];
      problems.push(
        `verifier closure: ${entry} reaches operator code ${file} at runtime via ${chain.join(" -> ")}`,
      );
    }
  }
  for (const edge of packages) {
    if (OPERATOR_ONLY.some((pattern) => pattern.test(edge.to))) {
      problems.push(`verifier closure: ${edge.from} imports ${edge.to}, which the verifier SDK must not use`);
    } else if (!SDK_PACKAGES.some((pattern) => pattern.test(edge.to))) {
      problems.push(
        `verifier closure: ${edge.from} imports ${edge.to}, a package not allowed in the verifier SDK`,
      );
    }
  }
  return problems;
}

function storeViolations(graph: ImportGraph): string[] {
  const problems: string[] = [];
  for (const store of [...graph.keys()].filter((file) => STORES.test(file)).sort()) {
    const { files, packages } = runtimeClosure(graph, store);
    for (const target of [...files, ...packages.map((edge) => edge.to)]) {
      if (!HTTP.test(target)) continue;
      const chain = runtimeChain(graph, store, target) ?? [store, target];
      problems.push(`stores: ${store} reaches HTTP module ${target} via ${chain.join(" -> ")}`);
    }
  }
  return problems;
}

function cycleViolations(graph: ImportGraph): string[] {
  return [
    ...cyclesOf(folderSuccessors(graph, folderOf)).map((cycle) => `folder cycle: ${cycle.join(" -> ")}`),
    ...cyclesOf(fileSuccessors(graph)).map((cycle) => `file cycle: ${cycle.join(" -> ")}`),
  ];
}

const NODE_GLOBAL = /(?<![\w.$])(Buffer|process|require|__dirname|__filename)\s*[.([]/;

/** Source without comments and string contents (so a word in a message is not a use). */
function stripComments(code: string): string {
  return code
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/(^|[^:])\/\/.*$/gm, "$1")
    .replace(/`(?:\\.|[^`\\])*`|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'/g, '""');
}

describe("the import graph of src/", () => {
  const graph = graphOfTree(REPO_ROOT);

  it("sees the whole tree (the walk is not vacuous)", () => {
    expect(graph.size).toBeGreaterThan(100);
    const closure = runtimeClosure(graph, "src/verifier/index.ts").files;
    for (const file of ["src/circuits/statement.ts", "src/dataset/manifest.ts", "src/query/lower.ts"]) {
      expect(closure).toContain(file);
    }
    expect(STORES.test("src/service/jobs.ts") && STORES.test("src/audit/store.ts")).toBe(true);
  });

  it("every folder imports only the layers beneath it (service does not import cli, ...)", () => {
    expect(layerViolations(graph)).toEqual([]);
  });

  it("the verifier SDK's runtime closure holds no operator code and no Node.js built-ins", () => {
    expect(verifierViolations(graph)).toEqual([]);
  });

  it("the verifier SDK's runtime closure uses no Node.js-only global (Buffer, process, require, __dirname)", () => {
    // Import edges cannot see globals: a Buffer in a file the SDK reaches breaks the browser bundle.
    const problems: string[] = [];
    for (const file of runtimeClosure(graph, "src/verifier/index.ts").files) {
      const code = stripComments(readFileSync(join(REPO_ROOT, file), "utf8"));
      const found = NODE_GLOBAL.exec(code);
      if (found) problems.push(`verifier closure: ${file} uses the Node.js global ${found[1]}`);
    }
    expect(problems).toEqual([]);
  });

  it("stores reach no HTTP module", () => {
    expect(storeViolations(graph)).toEqual([]);
  });

  it("has no cycles between folders and none between files", () => {
    expect(cycleViolations(graph)).toEqual([]);
  });
});

describe("the rules themselves, on a fixture graph with wrong imports", () => {
  const fixture = graphOfSources({
    "src/cli/defaults.ts": "export const KEYS_DIR = 'keys';",
    "src/service/config.ts": 'import { KEYS_DIR } from "../cli/defaults.ts";',
    "src/service/jobs.ts": 'import { send } from "./http.ts";',
    "src/service/http.ts": 'import express from "express";',
    "src/verifier/index.ts": 'export { verify } from "./verify.ts";',
    "src/verifier/verify.ts":
      'import { expected } from "../circuits/statement.ts";\nimport { readFile } from "node:fs";',
    "src/circuits/statement.ts": [
      'import { evaluate } from "../query/evaluate.ts";',
      'import type { Salt } from "../dataset/salt.ts";', // erased: not in the runtime closure
    ].join("\n"),
    "src/query/evaluate.ts": "export const evaluate = 1;",
    "src/dataset/salt.ts": 'import type { Statement } from "../circuits/statement.ts";',
    "src/query/a.ts": 'import type { B } from "./b.ts";',
    "src/query/b.ts": 'import { A } from "./a.ts";',
    "src/widgets/x.ts": "export const x = 1;",
  });

  it("reports a service file importing cli", () => {
    expect(layerViolations(fixture)).toContain(
      "layers: src/service/config.ts imports src/cli/defaults.ts, but service may import only " +
        "distributed, release, prover, setup, config, audit, storage, verifier, circuits, query, dataset, poseidon, core, util",
    );
  });

  it("reports a type-only upward import and a folder missing from the table", () => {
    expect(layerViolations(fixture)).toEqual(
      expect.arrayContaining([
        "layers: src/dataset/salt.ts imports src/circuits/statement.ts (type-only), but dataset may import only poseidon, core, util",
        "layers: folder widgets (src/widgets/x.ts) has no place in the LAYERS table",
      ]),
    );
  });

  it("reports operator code and node: built-ins reached by the verifier, with the import chain", () => {
    expect(verifierViolations(fixture)).toEqual([
      "verifier closure: src/verifier/index.ts reaches operator code src/query/evaluate.ts at runtime via " +
        "src/verifier/index.ts -> src/verifier/verify.ts -> src/circuits/statement.ts -> src/query/evaluate.ts",
      "verifier closure: src/verifier/verify.ts imports node:fs, which the verifier SDK must not use",
    ]);
  });

  it("reports a store that reaches HTTP", () => {
    expect(storeViolations(fixture)).toEqual([
      "stores: src/service/jobs.ts reaches HTTP module src/service/http.ts via src/service/jobs.ts -> src/service/http.ts",
      "stores: src/service/jobs.ts reaches HTTP module express via src/service/jobs.ts -> src/service/http.ts -> express",
    ]);
  });

  it("reports folder and file cycles, type-only edges included", () => {
    expect(cycleViolations(fixture)).toEqual([
      "folder cycle: circuits -> dataset -> circuits",
      "file cycle: src/circuits/statement.ts -> src/dataset/salt.ts -> src/circuits/statement.ts",
      "file cycle: src/query/a.ts -> src/query/b.ts -> src/query/a.ts",
    ]);
  });
});
