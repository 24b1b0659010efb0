/**
 * Erasure over real HTTP (issue 13, point 2): requests wait, sealed, until the batch is full (the exact-mode
 * mitigation of erasure differencing), then one new epoch without the records is committed and the older
 * epochs are crypto-shredded. Afterwards no file in the data directory (SQLite database, WAL, key file)
 * holds the old envelopes, the old epoch keys or the erased key in clear; old bundles still verify; the
 * audit log says an erasure happened, never whose.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verify } from "../src/verifier/verify-bundle.ts";
import { TEST_KEYS_DIR } from "./helpers/keys.ts";
import {
  addDataset,
  addPartner,
  FR_COUNT,
  nonce,
  ROWS_A,
  startTestService,
  type TestService,
  token,
  waitForJob,
} from "./helpers/service.ts";

let service: TestService;
let adminToken: string;
let aliceToken: string;
let keys: Record<string, unknown>;
const keysManifest = JSON.parse(readFileSync(path.join(TEST_KEYS_DIR, "manifest.json"), "utf8"));
/** Two FR records: the erased persons. */
const ERASED = [53456, 54567];

function dataDirBytes(): Buffer {
  const files = readdirSync(service.dataDir, { recursive: true, withFileTypes: true }).filter((entry) =>
    entry.isFile(),
  );
  return Buffer.concat(files.map((entry) => readFileSync(path.join(entry.parentPath, entry.name))));
}

/** Base64 payloads of every envelope stored for the dataset (records, secret, epoch key). */
function storedEnvelopePayloads(): string[] {
  const { db } = service.server.ctx;
  const texts = [
    ...(
      db.prepare("SELECT records_envelope, secret_envelope FROM datasets").raw().all() as string[][]
    ).flat(),
    ...(db.prepare("SELECT envelope FROM epoch_keys").pluck().all() as string[]),
    ...(db.prepare("SELECT envelope FROM erasure_requests").pluck().all() as string[]),
  ];
  return texts.filter((text) => text.startsWith("{")).map((text) => JSON.parse(text).ciphertext as string);
}

beforeAll(async () => {
  service = await startTestService({ config: { erasureBatch: 2 } });
  await addDataset(service, "ds-x", ROWS_A);
  const admin = await addPartner(service, "ops", ["admin"]);
  const alice = await addPartner(service, "alice", ["datasets:read", "queries:submit"], {
    datasets: ["ds-x"],
    fields: ["country", "bot", "edits"],
    aggregates: ["count"],
    minGroupSize: 1,
    budget: { queries: 20, periodSeconds: 3600 },
  });
  adminToken = await token(service, admin);
  aliceToken = await token(service, alice);
  const circuits = await service.api("GET", "/v1/circuits", { token: aliceToken });
  keys = Object.fromEntries(
    circuits.json.circuits.map((c: { circuitId: string; vkey: unknown }) => [c.circuitId, c.vkey]),
  );
});

afterAll(async () => {
  await service?.close();
});

const erase = (body: unknown) =>
  service.api("POST", "/v1/admin/datasets/ds-x/erasures", { token: adminToken, body });

describe("erasure", () => {
  it("batches, commits a new epoch without the records, shreds the old epoch and leaves no trace", async () => {
    const submitted = await service.api("POST", "/v1/queries", {
      token: aliceToken,
      body: { datasetId: "ds-x", query: FR_COUNT, nonce: nonce() },
    });
    const job = await waitForJob(service, aliceToken, submitted.json.jobId);
    expect(job.state).toBe("done");
    const oldBundle = (await service.api("GET", `/v1/jobs/${job.jobId}/bundle`, { token: aliceToken })).json;
    expect(oldBundle.answer).toMatchObject({ kind: "count", value: "4" });
    const before = storedEnvelopePayloads();
    expect(before.length).toBe(3); // records, secret, epoch key of epoch 1

    expect((await erase({ keys: [1] })).status).toBe(404); // no such person: a batch counts real persons
    const first = await erase({ keys: [ERASED[0]] });
    expect(first.status, first.text).toBe(200);
    expect(first.json).toEqual({ datasetId: "ds-x", pending: 1, applied: false });
    expect(service.server.ctx.datasets.latest("ds-x")?.epoch).toBe(1);

    const second = await erase({ keys: [ERASED[1]] });
    expect(second.status, second.text).toBe(200);
    expect(second.json).toMatchObject({ pending: 0, applied: true, epoch: 2, erased: 2, shreddedEpochs: 1 });

    // The new epoch is answerable and lacks the persons; the old epoch is refused; its bundle verifies.
    const after = await service.api("POST", "/v1/queries", {
      token: aliceToken,
      body: { datasetId: "ds-x", query: FR_COUNT, nonce: nonce() },
    });
    const afterJob = await waitForJob(service, aliceToken, after.json.jobId);
    const newBundle = (await service.api("GET", `/v1/jobs/${afterJob.jobId}/bundle`, { token: aliceToken }))
      .json;
    expect(newBundle.answer).toMatchObject({ kind: "count", value: "2" });
    expect(newBundle.manifest.previousManifestHash).toBe(
      service.server.ctx.datasets.require("ds-x", 1).manifestHash,
    );
    const old = await service.api("POST", "/v1/queries", {
      token: aliceToken,
      body: { datasetId: "ds-x", query: FR_COUNT, nonce: nonce(), epoch: 1 },
    });
    expect(old.json.error).toBe("epoch_retired");
    const options = {
      keys,
      keysManifest,
      operatorKey: service.server.ctx.operatorKey,
      allowInsecureKeys: true,
    };
    expect(verify(oldBundle, options).valid).toBe(true);

    // Every stored byte: the old envelopes and epoch key are gone, pending requests too; no key in clear.
    const bytes = dataDirBytes();
    for (const payload of before) expect(bytes.includes(Buffer.from(payload.slice(0, 24)))).toBe(false);
    expect(service.server.ctx.db.prepare("SELECT COUNT(*) FROM erasure_requests").pluck().get()).toBe(0);
    // The forms a key takes in stored plaintext: records ["53456",...], JSON rows "userId":53456, CSV.
    const text = bytes.toString("latin1");
    for (const key of ERASED) {
      for (const form of [`"${key}"`, `:${key},`, `:${key}}`, `\n${key},`]) expect(text).not.toContain(form);
    }
    expect(storedEnvelopePayloads().length).toBe(3); // only epoch 2's records, secret and key

    // The audit log says that an erasure happened, not whose.
    const entries = service.server.ctx.audit.log.findEntries({ limit: 1000 }).map((entry) => entry.entry);
    const erasures = entries.filter((entry) => entry.includes("admin.dataset.erase"));
    expect(erasures.length).toBe(3);
    for (const key of ERASED) expect(entries.join("\n")).not.toContain(String(key));
  });
});
