/**
 * @module test/string-key
 *
 * String keys (dataset/string-key.ts): the keyed hash on a known-answer vector (checked against Python's
 * hmac module), NFC and NFD spellings of one name sharing a key, loading (collisions naming both lines,
 * duplicate names, wrong types, no hasher, no streaming in file order), chunked commitments in hashed-key
 * order (file and upload alike, errors still naming the file's lines), the query side (only eq/neq/in, names
 * in a query or a pass query's terms mapped to keys, numbers passed through), `init` proposing a string key,
 * membership and an `in` count asked by name through the service on TEST_SHAPE, and a chunked string-keyed
 * dataset (chunk test shape S = 16) registered by upload and by file, asked by name with chain proofs; every
 * bundle verified with the partner SDK.
 */

import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commitChunks } from "../src/dataset/chunk-commit.ts";
import { fieldDomains } from "../src/dataset/chunk-layout.ts";
import { commitFileChunked, commitRecordsChunked } from "../src/dataset/chunked.ts";
import { getPoseidon } from "../src/dataset/commitment.ts";
import { DatasetError } from "../src/dataset/errors.ts";
import { parseCsv, parseJsonl, streamDataset } from "../src/dataset/load.ts";
import { generateOperatorKey } from "../src/dataset/manifest-sign.ts";
import { proposeSchema } from "../src/dataset/propose.ts";
import { encodeValue, parseSchema } from "../src/dataset/schema.ts";
import {
  deriveStringKeySecret,
  type StringKeyHasher,
  stringKeyHasher,
  stringKeyOf,
} from "../src/dataset/string-key.ts";
import { canonicalQuery } from "../src/query/canonical.ts";
import { parseQuery } from "../src/query/model.ts";
import { hashNamedKeys } from "../src/query/named-keys.ts";
import { verifyAny } from "../src/verifier/index.ts";
import { verify } from "../src/verifier/verify-bundle.ts";
import { chunkedRows, chunkedServiceKeys, TEST_CHUNKS } from "./helpers/chunked-service.ts";
import { rejection } from "./helpers/dataset-errors.ts";
import { TEST_KEYS_DIR } from "./helpers/keys.ts";
import {
  addPartner,
  nonce,
  startTestService,
  type TestService,
  token,
  waitForJob,
} from "./helpers/service.ts";

const SECRET = new Uint8Array(32).fill(7);
const hasher = stringKeyHasher(SECRET, "users", 1);
const schemaOf = (bits: number) =>
  parseSchema({
    key: "user",
    fields: [
      { name: "user", type: "string-key", bits },
      { name: "country", type: "enum", values: ["FR", "DE"] },
    ],
  });
const users32 = schemaOf(32);
/** Orders records by their key (field 0): the commitment order of a chunked string-keyed dataset. */
const byKey = (a: readonly bigint[], b: readonly bigint[]) => ((a[0] as bigint) < (b[0] as bigint) ? -1 : 1);

describe("the keyed hash", () => {
  it("matches the known-answer vector (HMAC-SHA256 under the derived secret, truncated)", () => {
    // python3: ks = hmac(bytes([7]*32), b"zktally/string-key/v1\0users\0" + pack(">QQ", 1, 0), sha256)[:31]
    //          key = int.from_bytes(hmac(ks, b"zktally/string-key/v1\0Alice", sha256)[:8], "big") >> (64 - bits)
    const keySecret = deriveStringKeySecret(SECRET, "users", 1);
    expect(Buffer.from(keySecret).toString("hex")).toBe(
      "4cf02c28f912ada2ae3965705446adf5dd0925cbcd60523bd0a50e218a3934",
    );
    expect(stringKeyOf(keySecret, "Alice", 32)).toBe(181755089n);
    expect(stringKeyOf(keySecret, "Alice", 53)).toBe(381168050306161n);
    expect(hasher("Alice", 32)).toBe(181755089n);
    // Another epoch, another dataset: another key.
    expect(stringKeyHasher(SECRET, "users", 2)("Alice", 32)).not.toBe(181755089n);
    expect(stringKeyHasher(SECRET, "other", 1)("Alice", 32)).not.toBe(181755089n);
  });

  it("gives a composed (NFC) and a decomposed (NFD) spelling one key", () => {
    const nfc = "Chlo\u00e9";
    const nfd = "Chloe\u0301";
    expect(nfc).not.toBe(nfd);
    expect(hasher(nfd, 32)).toBe(hasher(nfc, 32));
    const loaded = parseJsonl(`{"user":"${nfd}","country":"FR"}`, users32, "u.jsonl", { stringKeys: hasher });
    expect(loaded.records[0]?.[0]).toBe(hasher(nfc, 32));
  });
});

describe("loading string keys", () => {
  it("hashes names to keys, CSV and JSONL alike", () => {
    const csv = parseCsv("user,country\nAlice,FR\nBob,DE\n", users32, "u.csv", { stringKeys: hasher });
    expect(csv.records).toEqual([
      [hasher("Alice", 32), 0n],
      [hasher("Bob", 32), 1n],
    ]);
    expect(csv.keys?.get(hasher("Bob", 32))).toBe(1);
    const jsonl = parseJsonl(
      '{"user":"Alice","country":"FR"}\n{"user":"Bob","country":"DE"}',
      users32,
      "u.jsonl",
      {
        stringKeys: hasher,
      },
    );
    expect(jsonl.records).toEqual(csv.records);
  });

  it("refuses two names with one key, naming both lines, and says to widen the key", () => {
    // Under this secret, u1 and u2 share the 3-bit key 2 (found by trying u0, u1, u2, ...).
    expect([hasher("u1", 3), hasher("u2", 3)]).toEqual([2n, 2n]);
    const error = rejection(() =>
      parseCsv("user,country\nu0,FR\nu1,FR\nu2,DE\n", schemaOf(3), "users.csv", { stringKeys: hasher }),
    );
    expect([error.line, error.column]).toEqual([4, "user"]);
    expect(error.reason).toBe(
      'key collision: names "u2" (users.csv:4) and "u1" (users.csv:3) hash to the same 3-bit key 2; widen the key ("bits" of field "user", at most 53, and a circuit width W that holds it) and commit again',
    );
  });

  it("refuses a name given twice (keys are unique), composed or decomposed", () => {
    const error = rejection(() =>
      parseCsv("user,country\nChlo\u00e9,FR\nBob,FR\nChloe\u0301,DE\n", users32, "u.csv", {
        stringKeys: hasher,
      }),
    );
    expect([error.line, error.reason]).toEqual([4, 'duplicate name "Chlo\u00e9" (first seen on line 2)']);
  });

  it("refuses cells that are not names, and loading without the hasher", () => {
    const number = rejection(() =>
      parseJsonl('{"user":17,"country":"FR"}', users32, "u.jsonl", { stringKeys: hasher }),
    );
    expect(number.reason).toBe("expected a name (a string), got number");
    const empty = rejection(() =>
      parseCsv('user,country\n"",FR\n', users32, "u.csv", { stringKeys: hasher }),
    );
    expect(empty.reason).toBe("missing value");
    expect(() => parseCsv("user,country\nAlice,FR\n", users32, "u.csv")).toThrow(
      /field "user" is a string key: loading needs the dataset's key hasher/,
    );
  });

  it("refuses a stream in increasing key order (hashed keys follow no file order: they are sorted)", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "zktally-strkey-"));
    try {
      const file = path.join(dir, "u.csv");
      await writeFile(file, "user,country\nAlice,FR\n");
      await expect(
        streamDataset(file, users32, () => {}, { keyOrder: "increasing", stringKeys: hasher }),
      ).rejects.toThrow(/sort the records by key \(commitFileChunked does\)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("chunked commitments of string-keyed files (hashed-key order)", () => {
  const operator = generateOperatorKey();
  const NAMES = Array.from({ length: 10 }, (_, i) => `editor-${i}`);
  const csvOf = (names: readonly string[]) =>
    `user,country\n${names.map((name, i) => `${name},${i % 2 === 0 ? "FR" : "DE"}\n`).join("")}`;
  const inputOf = (schema = users32) => ({
    datasetId: "users",
    epoch: 1,
    schema,
    layout: { chunkSize: 4 },
    secret: SECRET,
    operatorSecretKey: operator.secretKey,
    circuits: ["chunk-test"],
    createdAt: "2026-12-01T00:00:00.000Z",
  });
  let dir: string;
  const file = async (name: string, text: string) => {
    const at = path.join(dir, name);
    await writeFile(at, text);
    return at;
  };
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "zktally-strkey-chunked-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("commits the records sorted by hashed key, in chunks, the root of the sorted records", async () => {
    const inFileOrder = parseCsv(csvOf(NAMES), users32, "users.csv", { stringKeys: hasher }).records;
    const sorted = [...inFileOrder].sort(byKey);
    expect(sorted).not.toEqual(inFileOrder); // the sort does something here
    const chunks: (readonly (readonly bigint[])[])[] = [];
    const result = await commitFileChunked(await file("users.csv", csvOf(NAMES)), {
      ...inputOf(),
      onChunk: ({ records }) => {
        chunks.push(records);
      },
    });
    expect(chunks.map((chunk) => chunk.length)).toEqual([4, 4, 2]);
    expect(chunks.flat()).toEqual(sorted);
    expect(result.manifest).toMatchObject({ version: 2, recordCount: 10, chunkCount: 3 });
    const reference = commitChunks(await getPoseidon(), {
      layout: result.layout,
      domains: fieldDomains(users32),
      keyField: 0,
      records: sorted,
      secret: SECRET,
      datasetId: "users",
      epoch: 1,
    });
    expect(result.root).toBe(reference.root);
    // An upload in file order commits to the same root (commitRecordsChunked sorts string keys too).
    expect((await commitRecordsChunked(inFileOrder, inputOf())).root).toBe(result.root);
  });

  it("refuses a collision, a duplicate and a bad cell naming the file's lines, not sorted positions", async () => {
    const failure = async (name: string, text: string, schema = users32) => {
      const error = await commitFileChunked(await file(name, text), inputOf(schema)).catch((e) => e);
      expect(error).toBeInstanceOf(DatasetError);
      return error as DatasetError;
    };
    // u1 and u2 share the 3-bit key 2 under this secret (see "refuses two names with one key").
    const collision = await failure("c.csv", "user,country\nu0,FR\nu1,FR\nu2,DE\n", schemaOf(3));
    expect([collision.file, collision.line, collision.column]).toEqual(["c.csv", 4, "user"]);
    expect(collision.reason).toMatch(/^key collision: names "u2" \(c\.csv:4\) and "u1" \(c\.csv:3\)/);
    const duplicate = await failure("d.csv", csvOf([...NAMES, "editor-3"]));
    expect([duplicate.line, duplicate.reason]).toEqual([
      12,
      'duplicate name "editor-3" (first seen on line 5)',
    ]);
    const bad = await failure("b.csv", `${csvOf(NAMES)}editor-x,XX\n`);
    expect([bad.line, bad.column]).toEqual([12, "country"]);
  });
});

describe("string-key schemas and queries", () => {
  it("refuses a string key that is not the key, too wide, or given a name where a key is due", () => {
    expect(() => parseSchema({ fields: [{ name: "user", type: "string-key", bits: 16 }] })).toThrow(
      /a string-key field must be the schema's key: add "key": "user"/,
    );
    expect(() => schemaOf(54)).toThrow(/bits/);
    const spec = users32.fields[0] as Parameters<typeof encodeValue>[0];
    expect(encodeValue(spec, 17)).toBe(17n);
    expect(() => encodeValue(spec, "Alice")).toThrow(
      /"Alice" is a name: names of a string-key field are hashed/,
    );
  });

  it("takes eq, neq and in on a string key, not ranges", () => {
    const query = (op: string, value: unknown) => ({
      predicate: [{ field: "user", op, value }],
      aggregate: { kind: "count" },
    });
    expect(() => parseQuery(query("in", [1, 2]), users32)).not.toThrow();
    expect(() => parseQuery(query("lt", 5), users32)).toThrow(/only eq, neq and in apply to it, not lt/);
    expect(() => parseQuery(query("between", [1, 5]), users32)).toThrow(/string key/);
  });

  it("maps names in every term of a pass query's anyOf, naming the path of a bad one", () => {
    const pass = {
      predicate: {
        anyOf: [
          [{ field: "user", op: "in", value: ["Alice", 5] }],
          [
            { field: "country", op: "eq", value: "FR" },
            { field: "user", op: "eq", value: "Bob" },
          ],
        ],
      },
      aggregate: { kind: "count" },
    };
    const mapped = hashNamedKeys(pass, users32, () => hasher);
    const [alice, bob] = [Number(hasher("Alice", 32)), Number(hasher("Bob", 32))];
    expect(mapped.query).toEqual({
      predicate: {
        anyOf: [
          [{ field: "user", op: "in", value: [alice, 5] }],
          [
            { field: "country", op: "eq", value: "FR" },
            { field: "user", op: "eq", value: bob },
          ],
        ],
      },
      aggregate: { kind: "count" },
    });
    expect(mapped.names.map((named) => named.name)).toEqual(["Alice", "Bob"]);
    const empty = {
      predicate: { anyOf: [[{ field: "user", op: "eq", value: "" }]] },
      aggregate: pass.aggregate,
    };
    expect(() => hashNamedKeys(empty, users32, () => hasher)).toThrow(/predicate\.anyOf\[0\]\[0\]\.value/);
  });

  it("maps names in clauses and the membership key to keys; numbers pass; no names, no hasher", () => {
    const hash = (name: string) => hasher(name, 32);
    const asked = {
      predicate: [
        { field: "user", op: "in", value: ["Alice", "Chloe\u0301", 99] },
        { field: "country", op: "eq", value: "FR" },
      ],
      aggregate: { kind: "membership", key: "Bob" },
    };
    const named = hashNamedKeys(asked, users32, () => hasher);
    expect(named.names).toEqual([
      { field: "user", name: "Alice", key: Number(hash("Alice")) },
      { field: "user", name: "Chlo\u00e9", key: Number(hash("Chlo\u00e9")) },
      { field: "user", name: "Bob", key: Number(hash("Bob")) },
    ]);
    const canonical = canonicalQuery(named.query, users32);
    expect(canonical.aggregate).toEqual({ kind: "membership", key: Number(hash("Bob")) });
    expect(JSON.stringify(canonical)).not.toMatch(/Alice|Bob|Chlo/);
    const numeric = { predicate: [{ field: "user", op: "eq", value: 5 }], aggregate: { kind: "count" } };
    const untouched = hashNamedKeys(numeric, users32, () => {
      throw new Error("the hasher is not needed");
    });
    expect(untouched).toEqual({ query: numeric, names: [] });
    expect(() =>
      hashNamedKeys({ predicate: [{ field: "user", op: "eq", value: "" }] }, users32, () => hasher),
    ).toThrow(/predicate\[0\]\.value: a name must be non-empty/);
  });

  it("init proposes a string key for a column of distinct names, and takes --key on one", () => {
    const sample = {
      file: "s.csv",
      columns: ["user", "country", "edits"],
      rows: [
        ["Alice", "FR", "3"],
        ["Bob", "DE", "5"],
        ["Chloé", "FR", "1"],
      ],
    };
    const proposal = proposeSchema(sample);
    expect(proposal.schema.key).toBe("user");
    expect(proposal.schema.fields[0]).toEqual({ name: "user", type: "string-key", bits: 32 });
    expect(proposal.notes[0]).toMatch(/^key "user": a string key of 32 bits/);
    const chosen = proposeSchema({ ...sample, columns: ["login", "country", "edits"] }, { key: "login" });
    expect(chosen.schema.fields[0]).toEqual({ name: "login", type: "string-key", bits: 32 });
    const repeated = { ...sample, rows: [...sample.rows, ["Bob", "DE", "2"]] };
    expect(proposeSchema(repeated).schema.key).toBeUndefined();
    expect(() => proposeSchema(repeated, { key: "user" })).toThrow(/text column of distinct names/);
  });
});

describe("asking by name through the service (TEST_SHAPE, real proofs)", () => {
  let service: TestService;
  const keysManifest = JSON.parse(readFileSync(path.join(TEST_KEYS_DIR, "manifest.json"), "utf8"));

  beforeAll(async () => {
    service = await startTestService();
    await service.admin.registerDataset(null, crypto.randomUUID(), {
      datasetId: "users",
      schema: {
        key: "user",
        fields: [
          { name: "user", type: "string-key", bits: 16 },
          { name: "country", type: "enum", values: ["FR", "DE"] },
          { name: "edits", type: "uint", bits: 16 },
        ],
      },
      rows: [
        { user: "Alice", country: "FR", edits: 3 },
        { user: "Bob", country: "DE", edits: 5 },
        { user: "Chlo\u00e9", country: "FR", edits: 8 },
      ],
    });
  });
  afterAll(() => service?.close());

  const check = async (bundle: unknown, accessToken: string) => {
    const circuits = await service.api("GET", "/v1/circuits", { token: accessToken });
    const keys = Object.fromEntries(
      circuits.json.circuits.map((c: { circuitId: string; vkey: unknown }) => [c.circuitId, c.vkey]),
    );
    return verify(bundle, {
      keys,
      keysManifest,
      operatorKey: service.server.ctx.operatorKey,
      allowInsecureKeys: true,
    });
  };

  async function ask(accessToken: string, query: unknown) {
    const submitted = await service.api("POST", "/v1/queries", {
      token: accessToken,
      body: { datasetId: "users", query, nonce: nonce() },
    });
    expect(submitted.status, submitted.text).toBe(202);
    const job = await waitForJob(service, accessToken, submitted.json.jobId);
    expect(job.state, JSON.stringify(job)).toBe("done");
    const bundle = (
      await service.api("GET", `/v1/jobs/${submitted.json.jobId}/bundle`, { token: accessToken })
    ).json;
    return { submitted: submitted.json, bundle };
  }

  it("answers membership and an in-count asked by name; bundles hold keys only and verify", async () => {
    const partner = await addNamePartner(service, "users");
    const accessToken = await token(service, partner);
    const keyOf = service.server.ctx.datasets.stringKeyHasher("users", 1);
    const alice = Number(keyOf("Alice", 16));

    const member = await ask(accessToken, {
      predicate: [{ field: "country", op: "eq", value: "FR" }],
      aggregate: { kind: "membership", key: "Alice" },
    });
    expect(member.submitted.names).toEqual([{ field: "user", name: "Alice", key: alice }]);
    expect(member.bundle.answer).toEqual({ kind: "membership", suppressed: false, value: true });
    expect(member.bundle.statement).toBe(
      `dataset users epoch 1: a record with user = ${alice} exists and matches country = FR`,
    );
    expect((await check(member.bundle, accessToken)).valid).toBe(true);

    const counted = await ask(accessToken, {
      predicate: [{ field: "user", op: "in", value: ["Alice", "Chloe\u0301", "Zoë"] }],
      aggregate: { kind: "count" },
    });
    expect(counted.submitted.names.map((named: { name: string }) => named.name)).toEqual([
      "Alice",
      "Chlo\u00e9",
      "Zoë",
    ]);
    expect(counted.bundle.answer).toMatchObject({ kind: "count", suppressed: false, value: "2" });
    expect(JSON.stringify(counted.bundle)).not.toMatch(/Alice|Chlo|Zo/);
    expect((await check(counted.bundle, accessToken)).valid).toBe(true);

    // A name asked by a range is refused with the reason.
    const ranged = await service.api("POST", "/v1/queries", {
      token: accessToken,
      body: {
        datasetId: "users",
        query: { predicate: [{ field: "user", op: "gt", value: "Alice" }], aggregate: { kind: "count" } },
        nonce: nonce(),
      },
    });
    expect([ranged.status, ranged.json.error]).toEqual([400, "invalid_query"]);
    expect(ranged.json.message).toMatch(/only eq, neq and in/);
  });

  it("commits a file (zktally commit's path) with each name hashed under its epoch's secret", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "zktally-strkey-"));
    try {
      const file = path.join(dir, "people.csv");
      await writeFile(file, "user,country\nAlice,FR\nChloe\u0301,DE\n");
      const schema = {
        key: "user",
        fields: [
          { name: "user", type: "string-key", bits: 16 },
          { name: "country", type: "enum", values: ["FR", "DE"] },
        ],
      };
      const view = await service.admin.registerDatasetFile(
        null,
        crypto.randomUUID(),
        { datasetId: "people", schema },
        file,
      );
      expect([view.epoch, view.manifest.recordCount]).toEqual([1, 2]);
      const keyOf = service.server.ctx.datasets.stringKeyHasher("people", 1);
      const { records } = await service.server.ctx.datasets.loadRecords("people", 1);
      expect(records.map((record) => record[0])).toEqual([keyOf("Alice", 16), keyOf("Chlo\u00e9", 16)]);
      // A file with a collision or a duplicate name is refused like an upload.
      await writeFile(file, "user,country\nAlice,FR\nAlice,DE\n");
      await expect(
        service.admin.registerDatasetFile(null, crypto.randomUUID(), { datasetId: "people", schema }, file),
      ).rejects.toThrow(/people\.csv:3: column "user": duplicate name "Alice" \(first seen on line 2\)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses erasure by key for a string-keyed dataset, with what to do instead", async () => {
    const key = Number(service.server.ctx.datasets.stringKeyHasher("users", 1)("Bob", 16));
    await expect(
      service.admin.erase(null, crypto.randomUUID(), "users", { keys: [key], force: true }),
    ).rejects.toThrow(
      /keyed by names \(a string key\): erase by registering the next epoch from the source file/,
    );
  });
});

describe("a chunked string-keyed dataset through the service (chunk test shape S = 16, chain proofs)", () => {
  let service: TestService;
  let keysDir: string;
  // The chunk test schema's domains (u16, e6, u16, b, u8) with names for keys: the chain circuits of
  // test/service-chunked.test.ts, so one build cache serves both.
  const schema = {
    key: "user",
    fields: [
      { name: "user", type: "string-key", bits: 16 },
      { name: "country", type: "enum", values: ["DE", "FR", "JP", "US", "IN", "BR"] },
      { name: "edits", type: "uint", bits: 16 },
      { name: "bot", type: "bool" },
      { name: "level", type: "uint", bits: 8 },
    ],
  };
  const rows = chunkedRows(20).map(({ userId, ...rest }) => ({ user: `editor-${userId}`, ...rest }));
  /** The rows encoded under an epoch's hasher, in upload order. */
  const encoded = (keyOf: StringKeyHasher) =>
    parseJsonl(rows.map((row) => JSON.stringify(row)).join("\n"), parseSchema(schema), "rows", {
      stringKeys: keyOf,
    }).records;

  /**
   * Registers under a fresh secret; 20 names on 16 bits collide with odds about 0.3%, refused as a collision
   * (the fix is wider keys, which the W = 16 test circuits cannot take), so a collision draws again.
   */
  async function registerWithoutCollision(register: () => Promise<unknown>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const error = await register().then(
        () => undefined,
        (e: unknown) => e,
      );
      if (error === undefined) return;
      if (attempt === 3 || !String(error).includes("key collision")) throw error;
    }
  }

  beforeAll(async () => {
    keysDir = await chunkedServiceKeys("test-keys-string-key-chunked");
    service = await startTestService({
      // The registration builds the development chain keys first (minutes on a cold build cache).
      config: { keysDir, chunks: TEST_CHUNKS, requestTimeoutMs: 600_000 },
    });
    await registerWithoutCollision(() =>
      service.admin.registerDataset(null, crypto.randomUUID(), {
        datasetId: "editors-named",
        schema,
        rows,
        chunked: true,
      }),
    );
  }, 900_000);
  afterAll(() => service?.close());

  it("commits an upload in 2 chunks, records sorted by the epoch's hashed keys", async () => {
    const { datasets } = service.server.ctx;
    expect(datasets.latest("editors-named")?.manifest).toMatchObject({ version: 2, recordCount: 20 });
    const keyOf = datasets.stringKeyHasher("editors-named", 1);
    const { records } = await datasets.loadChunked("editors-named", 1);
    // Every row, encoded under the epoch's hasher, in hashed-key order (not the upload's order).
    expect(records).toEqual([...encoded(keyOf)].sort(byKey));
    expect(records).not.toEqual(encoded(keyOf));
  });

  it("proves membership and an in-count asked by name as chains the SDK verifies", async () => {
    const partner = await addNamePartner(service, "editors-named");
    const accessToken = await token(service, partner);
    const circuits = (await service.api("GET", "/v1/circuits", { token: accessToken })).json.circuits as {
      circuitId: string;
      vkey: unknown;
    }[];
    const options = {
      keys: Object.fromEntries(circuits.map((c) => [c.circuitId, c.vkey])),
      keysManifest: JSON.parse(readFileSync(path.join(keysDir, "manifest.json"), "utf8")),
      operatorKey: service.server.ctx.operatorKey,
      allowInsecureKeys: true,
    };
    const keyOf = service.server.ctx.datasets.stringKeyHasher("editors-named", 1);
    const provenByName = async (query: unknown) => {
      const requestNonce = nonce();
      const submitted = await service.api("POST", "/v1/queries", {
        token: accessToken,
        body: { datasetId: "editors-named", query, nonce: requestNonce },
      });
      expect(submitted.status, submitted.text).toBe(202);
      const job = await waitForJob(service, accessToken, submitted.json.jobId, 300_000);
      expect(job.state, JSON.stringify(job)).toBe("done");
      const bundle = (
        await service.api("GET", `/v1/jobs/${submitted.json.jobId}/bundle`, { token: accessToken })
      ).json;
      const result = verifyAny(bundle, { ...options, expectedNonce: requestNonce });
      expect(result, JSON.stringify(result)).toMatchObject({ valid: true, kind: "chain", chunkCount: 2 });
      expect(JSON.stringify(bundle)).not.toMatch(/editor-|nobody/);
      return { names: submitted.json.names, bundle };
    };

    const member = await provenByName({
      predicate: [{ field: "country", op: "eq", value: rows[7]?.country }],
      aggregate: { kind: "membership", key: rows[7]?.user },
    });
    expect(member.names).toEqual([
      { field: "user", name: rows[7]?.user, key: Number(keyOf(rows[7]?.user as string, 16)) },
    ]);
    expect(member.bundle.answer).toEqual({ kind: "membership", suppressed: false, value: true });

    const asked = [rows[0]?.user, rows[19]?.user, "nobody"] as string[];
    const counted = await provenByName({
      predicate: [{ field: "user", op: "in", value: asked }],
      aggregate: { kind: "count" },
    });
    expect(counted.names.map((named: { name: string }) => named.name)).toEqual(asked);
    // "nobody" aliases one of the 20 keys with odds 20 / 2^16: the answer is 2.
    expect(counted.bundle.answer).toMatchObject({ kind: "count", suppressed: false, value: "2" });
  }, 600_000);

  it("registers a file chunked (zktally commit's path) and names the file's lines in its errors", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "zktally-strkey-"));
    try {
      const file = path.join(dir, "editors.csv");
      const csv = (list: typeof rows) =>
        `user,country,edits,bot,level\n${list.map((r) => `${r.user},${r.country},${r.edits},${r.bot},${r.level}`).join("\n")}\n`;
      await writeFile(file, csv(rows));
      await registerWithoutCollision(() =>
        service.admin.registerDatasetFile(
          null,
          crypto.randomUUID(),
          { datasetId: "from-file", schema },
          file,
        ),
      );
      const { datasets } = service.server.ctx;
      expect(datasets.latest("from-file")?.manifest).toMatchObject({
        version: 2,
        recordCount: 20,
        chunkCount: 2,
      });
      const keyOf = datasets.stringKeyHasher("from-file", 1);
      const { records } = await datasets.loadChunked("from-file", 1);
      expect(records).toEqual([...encoded(keyOf)].sort(byKey));
      // A duplicate past the first instance's worth of records, found by the chunked (whole-file) load.
      await writeFile(file, csv([...rows, rows[2] as (typeof rows)[number]]));
      await expect(
        service.admin.registerDatasetFile(
          null,
          crypto.randomUUID(),
          { datasetId: "from-file", schema },
          file,
        ),
      ).rejects.toThrow(
        new RegExp(
          `editors\\.csv:22: column "user": duplicate name "${rows[2]?.user}" \\(first seen on line 4\\)`,
        ),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A partner who may ask counts and membership by name (on the key field) on `datasetId`. */
function addNamePartner(service: TestService, datasetId: string) {
  return addPartner(service, "nia", ["datasets:read", "queries:submit", "queries:membership"], {
    datasets: [datasetId],
    fields: ["user", "country"],
    aggregates: ["count", "membership"],
    membership: { suppress: false },
    keyClauses: "any",
    minGroupSize: 1,
    budget: { queries: 10, periodSeconds: 3600 },
  });
}
