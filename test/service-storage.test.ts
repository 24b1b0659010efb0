/**
 * Storage and audit through the service's own database: records and dataset secrets are only stored as
 * AES-256-GCM envelopes bound to (dataset, epoch, purpose); a flipped bit, a swapped envelope or the wrong
 * key file makes the dataset unusable (a job fails with a public error code, refunded and logged) instead
 * of being proven; key rotation re-encrypts everything; and `zktally audit verify` on the service database
 * detects an edited, deleted, reordered or truncated audit row at its index.
 */
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { leafHash } from "../src/audit/merkle.ts";
import { runAudit } from "../src/cli/commands/audit.ts";
import { databaseFileOf, keyFileOf } from "../src/service/config.ts";
import { DatasetStore } from "../src/service/datasets.ts";
import { DatasetIntegrityError } from "../src/service/errors.ts";
import { initService, openService } from "../src/service/server.ts";
import { KeyRing } from "../src/storage/keyring.ts";
import {
  addDataset,
  addPartner,
  FR_COUNT,
  nonce,
  ROWS_A,
  ROWS_B,
  SERVICE_SCHEMA,
  startTestService,
  type TestService,
  tempDir,
  testConfig,
  token,
  waitForJob,
} from "./helpers/service.ts";

let service: TestService;
let accessToken: string;

function datasetRow(id: string) {
  return service.server.ctx.db
    .prepare("SELECT records_envelope, secret_envelope FROM datasets WHERE dataset_id = ?")
    .get(id) as { records_envelope: string; secret_envelope: string };
}

function setEnvelope(id: string, column: "records_envelope" | "secret_envelope", value: string) {
  service.server.ctx.db.prepare(`UPDATE datasets SET ${column} = ? WHERE dataset_id = ?`).run(value, id);
  service.server.ctx.datasets.clearCache();
}

function flipBit(envelopeText: string, field: "ciphertext" | "tag" | "nonce"): string {
  const envelope = JSON.parse(envelopeText);
  const bytes = Buffer.from(envelope[field], "base64");
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
  return JSON.stringify({ ...envelope, [field]: bytes.toString("base64") });
}

async function expectUnusable(id: string) {
  await expect(service.server.ctx.datasets.loadCommitted(id, 1)).rejects.toBeInstanceOf(
    DatasetIntegrityError,
  );
}

beforeAll(async () => {
  service = await startTestService();
  await addDataset(service, "ds-a", ROWS_A);
  await addDataset(service, "ds-b", ROWS_B);
  const partner = await addPartner(service, "alice", ["queries:submit", "audit:read"], {
    datasets: ["ds-a", "ds-b"],
    fields: ["country"],
    minGroupSize: 1,
  });
  accessToken = await token(service, partner);
});

afterAll(async () => {
  await service?.close();
});

describe("encryption at rest", () => {
  it("stores records and secrets only as envelopes: no record value in the database file", async () => {
    const row = datasetRow("ds-a");
    for (const text of [row.records_envelope, row.secret_envelope]) {
      expect(Object.keys(JSON.parse(text)).sort()).toEqual(["ciphertext", "keyId", "nonce", "tag", "v"]);
    }
    service.server.ctx.db.pragma("wal_checkpoint(TRUNCATE)");
    const file = databaseFileOf(service.server.ctx.config);
    const bytes = Buffer.concat([
      readFileSync(file),
      existsSync(`${file}-wal`) ? readFileSync(`${file}-wal`) : Buffer.alloc(0),
    ]);
    const committed = await service.server.ctx.datasets.loadCommitted("ds-a", 1);
    for (const record of ROWS_A) {
      expect(bytes.includes(`"${record.userId}"`), String(record.userId)).toBe(false);
      expect(bytes.includes(`"${record.edits}"`), String(record.edits)).toBe(false);
    }
    for (const salt of committed.commitment.slots.salts) expect(bytes.includes(salt.toString())).toBe(false);
  });

  it("a flipped bit (ciphertext, tag or nonce) or a swapped envelope makes the dataset unusable", async () => {
    const original = datasetRow("ds-b");
    try {
      for (const field of ["ciphertext", "tag", "nonce"] as const) {
        setEnvelope("ds-b", "records_envelope", flipBit(original.records_envelope, field));
        await expectUnusable("ds-b");
        setEnvelope("ds-b", "records_envelope", original.records_envelope);
        setEnvelope("ds-b", "secret_envelope", flipBit(original.secret_envelope, field));
        await expectUnusable("ds-b");
        setEnvelope("ds-b", "secret_envelope", original.secret_envelope);
      }
      // Envelopes are bound to their dataset and purpose: another dataset's records, or the secret in the
      // records column, do not decrypt here.
      setEnvelope("ds-b", "records_envelope", datasetRow("ds-a").records_envelope);
      await expectUnusable("ds-b");
      setEnvelope("ds-b", "records_envelope", original.secret_envelope);
      await expectUnusable("ds-b");
    } finally {
      setEnvelope("ds-b", "records_envelope", original.records_envelope);
      setEnvelope("ds-b", "secret_envelope", original.secret_envelope);
    }
    expect((await service.server.ctx.datasets.loadCommitted("ds-b", 1)).records).toHaveLength(ROWS_B.length);
  });

  it("a job over a tampered dataset fails with a public error, is refunded and logged, and never proven", async () => {
    const original = datasetRow("ds-b");
    const before = service.server.ctx.db
      .prepare(
        "SELECT COUNT(*) FROM budget_ledger WHERE partner_id = 'alice' AND state IN ('reserved', 'charged')",
      )
      .pluck()
      .get();
    setEnvelope("ds-b", "records_envelope", flipBit(original.records_envelope, "ciphertext"));
    try {
      const submitted = await service.api("POST", "/v1/queries", {
        token: accessToken,
        body: { datasetId: "ds-b", query: FR_COUNT, nonce: nonce() },
      });
      expect(submitted.status).toBe(202);
      const job = await waitForJob(service, accessToken, submitted.json.jobId);
      expect(job.state).toBe("failed");
      expect(job.error).toEqual({
        code: "dataset_unavailable",
        message: "the dataset could not be loaded for proving",
      });
      const bundle = await service.api("GET", `/v1/jobs/${submitted.json.jobId}/bundle`, {
        token: accessToken,
      });
      expect(bundle.status).toBe(409);
      expect(bundle.json.error).toBe("job_failed");
      const { db } = service.server.ctx;
      expect(
        db
          .prepare(
            "SELECT COUNT(*) FROM budget_ledger WHERE partner_id = 'alice' AND state IN ('reserved', 'charged')",
          )
          .pluck()
          .get(),
      ).toBe(before);
      expect(
        db.prepare("SELECT state FROM budget_ledger WHERE job_id = ?").pluck().get(submitted.json.jobId),
      ).toBe("refunded");
      expect(
        db.prepare("SELECT COUNT(*) FROM bundles WHERE job_id = ?").pluck().get(submitted.json.jobId),
      ).toBe(0);
      const receipts = await service.api("GET", `/v1/receipts/${submitted.json.requestId}`, {
        token: accessToken,
      });
      expect(
        receipts.json.receipts.map(
          (r: { entry: { action: string; decision: string } }) => `${r.entry.action}:${r.entry.decision}`,
        ),
      ).toEqual(["query.submit:accepted", "query.answer:failed"]);
      expect(service.logs.text()).not.toMatch(/DecryptError|authentication/);
    } finally {
      setEnvelope("ds-b", "records_envelope", original.records_envelope);
    }
  });

  it("rotation re-encrypts every envelope; old key versions can then be destroyed", async () => {
    const epochKeyOf = (id: string) =>
      service.server.ctx.db
        .prepare("SELECT envelope FROM epoch_keys WHERE dataset_id = ? AND epoch = 1")
        .pluck()
        .get(id) as string;
    const oldRecords = datasetRow("ds-a").records_envelope;
    const oldEpochKey = epochKeyOf("ds-a");
    const ops = await addPartner(service, "ops", ["admin"]);
    const rotated = await service.api("POST", "/v1/admin/keys/rotate", { token: await token(service, ops) });
    expect(rotated.status).toBe(200);
    // Two datasets: their epoch keys are re-sealed (records and secret stay under them), three service keys.
    expect(rotated.json.reencrypted).toBe(2 + 3);
    expect(datasetRow("ds-a").records_envelope).toBe(oldRecords);
    const keyIds = (
      service.server.ctx.db.prepare("SELECT envelope FROM epoch_keys").pluck().all() as string[]
    ).map((text) => JSON.parse(text).keyId);
    expect(new Set(keyIds)).toEqual(new Set([2]));
    // Destroy key 1 in a copy of the key file: the re-encrypted data still opens, the pre-rotation envelope no longer does.
    const keyFile = keyFileOf(service.server.ctx.config);
    const copy = path.join(tempDir("keys"), "keyring.json");
    copyFileSync(keyFile, copy);
    const ring = await KeyRing.load(copy);
    await ring.destroy(1);
    const store = new DatasetStore({
      db: service.server.ctx.db,
      cipher: ring,
      operatorSecretKey: new Uint8Array(32),
      shape: service.server.ctx.circuit.shape,
      circuitId: service.server.ctx.circuit.id,
    });
    expect((await store.loadCommitted("ds-a", 1)).records).toHaveLength(ROWS_A.length);
    expect(() =>
      ring.decrypt(JSON.parse(oldEpochKey), { datasetId: "ds-a", epoch: 1, purpose: "epoch-key" }),
    ).toThrow(/destroyed/);
    service.server.ctx.datasets.clearCache();
    expect((await service.server.ctx.datasets.loadCommitted("ds-a", 1)).records).toHaveLength(ROWS_A.length);
  });

  it("with the wrong key file the service refuses to boot and the datasets do not open", async () => {
    const dataDir = tempDir("wrongkey");
    try {
      const first = await initService(testConfig(dataDir), { logDestination: service.logs });
      await first.ctx.datasets.register({ datasetId: "ds-k", schema: SERVICE_SCHEMA, rows: ROWS_A });
      first.close();
      const otherKeyFile = path.join(tempDir("other"), "keyring.json");
      await KeyRing.create(otherKeyFile);
      await expect(
        openService(testConfig(dataDir, { keyFile: otherKeyFile }), { logDestination: service.logs }),
      ).rejects.toThrow(/does not decrypt with this key file/);
      const db = new Database(databaseFileOf(testConfig(dataDir)));
      try {
        const store = new DatasetStore({
          db,
          cipher: await KeyRing.load(otherKeyFile),
          operatorSecretKey: new Uint8Array(32),
          shape: service.server.ctx.circuit.shape,
          circuitId: service.server.ctx.circuit.id,
        });
        await expect(store.loadCommitted("ds-k", 1)).rejects.toThrow(/do not decrypt/);
      } finally {
        db.close();
      }
      // The right key file still works.
      const again = await openService(testConfig(dataDir), { logDestination: service.logs });
      expect((await again.ctx.datasets.loadCommitted("ds-k", 1)).records).toHaveLength(ROWS_A.length);
      again.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("audit log tamper detection through the service database", () => {
  let snapshot: string;
  let logKey: string;
  let partnerHead: unknown;
  let size: number;

  beforeAll(async () => {
    // Some traffic, then a receipt the partner keeps (its signed head lives outside the database).
    for (let i = 0; i < 3; i++) {
      await service.api("POST", "/v1/queries", {
        token: accessToken,
        body: { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() },
      });
    }
    const listed = await service.api("GET", "/v1/receipts?limit=1000", { token: accessToken });
    const last = listed.json.entries.at(-1);
    partnerHead = (await service.api("GET", `/v1/receipts/${last.requestId}`, { token: accessToken })).json
      .receipts[0].treeHead;
    logKey = service.server.ctx.audit.log.logKey;
    service.server.ctx.db.pragma("wal_checkpoint(TRUNCATE)");
    snapshot = path.join(tempDir("audit"), "snapshot.db");
    await service.server.ctx.db.backup(snapshot);
    size = (partnerHead as { treeSize: number }).treeSize;
    expect(size).toBeGreaterThan(8);
  });

  async function verifyCopy(tamper: ((db: Database.Database) => void) | undefined, extraArgs: string[] = []) {
    const copy = path.join(tempDir("tamper"), "copy.db");
    copyFileSync(snapshot, copy);
    if (tamper) {
      const db = new Database(copy);
      // An attacker with write access to the file removes the append-only triggers first.
      for (const name of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").pluck().all()) {
        db.exec(`DROP TRIGGER "${name as string}"`);
      }
      tamper(db);
      db.close();
    }
    let out = "";
    const code = await runAudit(["verify", "--db", copy, "--log-key", logKey, "--json", ...extraArgs], {
      out: (text) => {
        out += text;
      },
      err: () => {},
    });
    return { code, result: JSON.parse(out) };
  }

  const entryText = (db: Database.Database, idx: number) =>
    db.prepare("SELECT entry FROM audit_entries WHERE idx = ?").pluck().get(idx) as string;

  it("the untouched log verifies", async () => {
    const { code, result } = await verifyCopy(undefined);
    expect(code).toBe(0);
    expect(result).toMatchObject({ ok: true, treeSize: size });
  });

  it("an edited entry fails at its index (with or without a recomputed leaf hash)", async () => {
    const edit = (db: Database.Database, rehash: boolean) => {
      const text = entryText(db, 7).replace(
        /"decision":"(accepted|refused)"/,
        (_m, d) => `"decision":"${d === "accepted" ? "refused" : "accepted"}"`,
      );
      db.prepare("UPDATE audit_entries SET entry = ? WHERE idx = 7").run(text);
      if (rehash)
        db.prepare("UPDATE audit_entries SET leaf_hash = ? WHERE idx = 7").run(leafHash(Buffer.from(text)));
    };
    for (const rehash of [false, true]) {
      const { code, result } = await verifyCopy((db) => edit(db, rehash));
      expect(code).toBe(1);
      expect(result.ok).toBe(false);
      expect(result.index, result.reason).toBe(7);
    }
  });

  it("a deleted entry fails at its index", async () => {
    const { code, result } = await verifyCopy((db) =>
      db.prepare("DELETE FROM audit_entries WHERE idx = 5").run(),
    );
    expect(code).toBe(1);
    expect(result.index).toBe(5);
    expect(result.reason).toMatch(/missing|deleted/);
  });

  it("reordered entries fail at the first moved index", async () => {
    const { code, result } = await verifyCopy((db) => {
      const [a, b] = [entryText(db, 9), entryText(db, 10)];
      const leaf = (text: string) => leafHash(Buffer.from(text));
      db.prepare("UPDATE audit_entries SET entry = ?, leaf_hash = ? WHERE idx = 9").run(b, leaf(b));
      db.prepare("UPDATE audit_entries SET entry = ?, leaf_hash = ? WHERE idx = 10").run(a, leaf(a));
    });
    expect(code).toBe(1);
    expect(result.index).toBe(9);
  });

  it("truncation (entries and the heads covering them deleted) fails at the cut against the partner's receipt head", async () => {
    const cut = size - 4;
    const truncate = (db: Database.Database) => {
      db.prepare("DELETE FROM audit_entries WHERE idx >= ?").run(cut);
      db.prepare("DELETE FROM audit_heads WHERE tree_size > ?").run(cut);
      db.prepare("DELETE FROM audit_nodes").run();
    };
    const headsFile = path.join(tempDir("heads"), "heads.json");
    writeFileSync(headsFile, JSON.stringify([partnerHead]));
    const { code, result } = await verifyCopy(truncate, ["--heads", headsFile]);
    expect(code).toBe(1);
    expect(result.index).toBe(cut);
    expect(result.reason).toMatch(/truncated/);
  });
});
