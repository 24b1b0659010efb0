/**
 * The package root (`zktally`, src/index.ts) exports a deliberate API, name by name:
 * 1. src/index.ts has no `export *` (a re-exported module cannot grow the API silently);
 * 2. the runtime exports and the exported type names equal the pinned lists below (adding a name means
 *    editing this list and the README on purpose);
 * 3. README's "Package API" section names every export;
 * 4. file helpers, internal checks and test-only code are not exported;
 * 5. the verifier SDK (`zktally/verifier`) exports the chain-bundle API deliberately (values and types).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import * as api from "../src/index.ts";
import { REPO_ROOT } from "../src/setup/paths.ts";
import * as verifierApi from "../src/verifier/index.ts";

const VALUES = [
  "FIELD_ORDER",
  "ZktallyError",
  "UnavailableError",
  "ProverFailure",
  "NotFoundError",
  "LimitError",
  "isZktallyError",
  "IntegrityError",
  "InputError",
  "ConflictError",
  "AccessError",
  "AGGREGATE_KINDS",
  "CeremonyError",
  "CompileError",
  "DATASET_ID_PATTERN",
  "DEFAULT_QUERY_LIMITS",
  "DatasetError",
  "ManifestError",
  "OPS",
  "PinMismatchError",
  "ProverError",
  "ProverPool",
  "QueryError",
  "STANDARD_SHAPE",
  "SchemaError",
  "SetupError",
  "UntrustedPtauError",
  "WitnessError",
  "assertDatasetId",
  "beaconCeremony",
  "buildDevKeys",
  "buildManifest",
  "canonicalQuery",
  "circuitId",
  "ChunkStoreReader",
  "commitFile",
  "commitFileChunked",
  "commitFileToChunkStore",
  "commitRecords",
  "compileCircuit",
  "contributeCeremony",
  "createNativeBackend",
  "createSnarkjsBackend",
  "describeQuery",
  "ensureMainFile",
  "evaluateQuery",
  "finalizeCeremony",
  "generateDatasetSecret",
  "generateOperatorKey",
  "initCeremony",
  "loadDataset",
  "loadPinnedVkey",
  "makeBundle",
  "makeShape",
  "manifestHash",
  "operatorKeyOf",
  "parseCsv",
  "parseJsonl",
  "parseManifest",
  "parseQuery",
  "parseSchema",
  "proveChain",
  "proveQuery",
  "proveQueryChunked",
  "queryHash",
  "readKeysManifest",
  "schemaHash",
  "serializeBundle",
  "setupWithCeremonyPtau",
  "shapeFromId",
  "signManifest",
  "streamDataset",
  "terminateCurveWorkers",
  "verifyCeremony",
  "verifyManifest",
];

const TYPES = [
  "ZktallyErrorOptions",
  "ErrorKind",
  "Aggregate",
  "AggregateKind",
  "AggregateShape",
  "BeaconOptions",
  "BuildDevKeysOptions",
  "BuildDevKeysResult",
  "BuildManifestInput",
  "CeremonyReport",
  "CeremonySetupOptions",
  "ChunkLayout",
  "ChunkedCommitResult",
  "ChunkedManifest",
  "Clause",
  "CommitFileChunkedInput",
  "CommitRecordsInput",
  "CommittedDataset",
  "CompiledCircuit",
  "ContributeOptions",
  "DatasetErrorLocation",
  "DatasetFormat",
  "DatasetManifest",
  "FieldSpec",
  "FinalizeCeremonyOptions",
  "InitCeremonyOptions",
  "KeysManifest",
  "LoadedDataset",
  "NativeBackendOptions",
  "Op",
  "LoadedChunk",
  "PinnedCircuit",
  "ProveChainRequest",
  "ProveQueryRequest",
  "ProverBackend",
  "ProverPoolOptions",
  "Query",
  "QueryLimits",
  "QueryProof",
  "QueryResult",
  "ReadableAnswer",
  "Schema",
  "SnarkjsBackendOptions",
  "StreamDatasetOptions",
  "StreamedDataset",
  "UnsignedManifest",
  "VerifyCeremonyOptions",
];

interface DeclaredExports {
  readonly values: string[];
  readonly types: string[];
  readonly starExports: string[];
}

/** The names src/index.ts declares, split into values and `type` exports (read from the source). */
function declaredExports(file: string): DeclaredExports {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const values: string[] = [];
  const types: string[] = [];
  const starExports: string[] = [];
  for (const statement of source.statements) {
    if (!ts.isExportDeclaration(statement)) continue;
    const from = (statement.moduleSpecifier as ts.StringLiteral | undefined)?.text ?? "";
    if (!statement.exportClause || !ts.isNamedExports(statement.exportClause)) {
      starExports.push(from);
      continue;
    }
    for (const element of statement.exportClause.elements) {
      (statement.isTypeOnly || element.isTypeOnly ? types : values).push(element.name.text);
    }
  }
  return { values: values.sort(), types: types.sort(), starExports };
}

const INDEX = join(REPO_ROOT, "src/index.ts");

describe("package API (src/index.ts)", () => {
  const declared = declaredExports(INDEX);

  it("has no `export *`", () => {
    expect(declared.starExports).toEqual([]);
  });

  it("exports exactly the pinned values and types", () => {
    expect(Object.keys(api).sort()).toEqual([...VALUES].sort());
    expect(declared.values).toEqual([...VALUES].sort());
    expect(declared.types).toEqual([...TYPES].sort());
  });

  it("README lists every export in its Package API section", () => {
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    const section = /## Package API\n([\s\S]*?)(\n## |$)/.exec(readme)?.[1];
    expect(section, "README has a '## Package API' section").toBeDefined();
    for (const name of [...VALUES, ...TYPES]) expect(section, name).toMatch(new RegExp(`\\b${name}\\b`));
  });

  it("keeps file helpers, internal checks and test-only code out", () => {
    for (const name of [
      "checkQueryProof",
      "verifyWithSnarkjs",
      "writeFileAtomic",
      "sha256File",
      "readBinSection",
      "REPO_ROOT",
      "buildRoot",
      "aggregateCircuitInput",
      "sanitizeWitnessReason",
    ]) {
      expect(Object.keys(api), name).not.toContain(name);
    }
  });
});

/** The chain-bundle (zktally-bundle/v2) part of `zktally/verifier`: values and types, by name. */
const VERIFIER_CHAIN_VALUES = [
  "CHAIN_BUNDLE_FORMAT",
  "MAX_CHAIN_CHUNKS",
  "isChainBundle",
  "parseChainBundle",
  "verifyAny",
  "verifyChain",
];
const VERIFIER_CHAIN_TYPES = [
  "ChainBundle",
  "ChainProofEntry",
  "ChainRejected",
  "ChainVerified",
  "ChainVerifyResult",
  "ParsedChainBundle",
];

describe("verifier SDK (src/verifier/index.ts) chain API", () => {
  const declared = declaredExports(join(REPO_ROOT, "src/verifier/index.ts"));

  it("exports verifyChain, verifyAny, parseChainBundle and the chain types", () => {
    expect(Object.keys(verifierApi)).toEqual(expect.arrayContaining(VERIFIER_CHAIN_VALUES));
    expect(declared.values).toEqual(expect.arrayContaining(VERIFIER_CHAIN_VALUES));
    expect(declared.types).toEqual(expect.arrayContaining(VERIFIER_CHAIN_TYPES));
    expect(declared.starExports).toEqual([]);
  });
});
