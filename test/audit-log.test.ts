/**
 * AuditLog: receipts and proofs for every size, consistency between every pair of sizes, signed heads,
 * atomicity with the caller's transaction, secret screening, and timing at 10^4 entries.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { AuditLog } from "../src/audit/log.ts";
import { consistencyProof, fromHex, inclusionProof, toHex, treeRoot } from "../src/audit/merkle.ts";
import { verifyTreeHead } from "../src/audit/sth.ts";
import { type AuditEvent, AuditIntegrityError, parseEntryText } from "../src/audit/types.ts";
import { verifyAuditLog, verifyHeadConsistency, verifyReceipt } from "../src/audit/verify.ts";

const LOG_SECRET = new Uint8Array(createHash("sha256").update("zktally audit test key").digest());
const OTHER_SECRET = new Uint8Array(createHash("sha256").update("someone else's key").digest());

function sampleEvent(i: number): AuditEvent {
  const decisions = ["accepted", "refused", "failed"] as const;
  return {
    partner: i % 5 === 4 ? null : `partner-${i % 3}`,
    action: i % 2 === 0 ? "query.submit" : "job.status",
    decision: decisions[i % 3] as AuditEvent["decision"],
    requestId: `req-${i.toString(16).padStart(8, "0")}-${"abcdef"[i % 6]}`,
    details: { datasetId: "wiki-edits", epoch: 3, n: i, suppressed: i % 4 === 0, note: null },
  };
}

/** A fresh in-memory log with a clock that ticks 1 s per call from 2025-01-01. */
function freshLog(secretKey = LOG_SECRET): { db: Database.Database; log: AuditLog } {
  const db = new Database(":memory:");
  let tick = Date.UTC(2025, 0, 1);
  const log = new AuditLog(db, { secretKey }, { now: () => (tick += 1000) });
  return { db, log };
}

function fillLog(log: AuditLog, count: number, from = 0): void {
  for (let i = from; i < from + count; i++) log.append(sampleEvent(i));
}

/** Drops the append-only triggers, as an attacker with write access to the file would. */
function dropGuards(db: Database.Database): void {
  const names = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit%'")
    .pluck()
    .all();
  for (const name of names as string[]) db.exec(`DROP TRIGGER "${name}"`);
}

const leavesOf = (log: AuditLog) => log.entries().map((row) => fromHex(row.leafHash)!);

const scratch = mkdtempSync(join(tmpdir(), "zktally-audit-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("append, receipts and inclusion proofs", () => {
  it("every receipt of every size 1..50 verifies and matches the pure Merkle functions", () => {
    const { log } = freshLog();
    for (let size = 1; size <= 50; size++) {
      const receipt = log.append(sampleEvent(size - 1));
      expect(receipt.index).toBe(size - 1);
      expect(receipt.treeHead.treeSize).toBe(size);
      expect(verifyReceipt(receipt, log.logKey)).toEqual({ ok: true });
      const leaves = leavesOf(log);
      expect(receipt.treeHead.rootHash).toBe(toHex(treeRoot(leaves)));
      for (let index = 0; index < size; index++) {
        const again = log.receipt(index);
        expect(verifyReceipt(again, log.logKey), `${index} of ${size}`).toEqual({ ok: true });
        expect(again.inclusion).toEqual(inclusionProof(leaves, index).map(toHex));
      }
    }
    // Receipts against older heads stay valid.
    for (const [index, size] of [
      [0, 1],
      [7, 8],
      [12, 31],
      [49, 50],
    ] as const) {
      const old = log.receipt(index, size);
      expect(old.treeHead.treeSize).toBe(size);
      expect(verifyReceipt(old, log.logKey)).toEqual({ ok: true });
    }
  });

  it("stores the entry as canonical JSON with index and timestamp, and the receipt carries it", () => {
    const { log } = freshLog();
    const receipt = log.append(sampleEvent(1));
    const [stored] = log.entries();
    expect(stored!.entry).toBe(
      '{"action":"job.status","decision":"refused","details":{"datasetId":"wiki-edits","epoch":3,"n":1,"note":null,"suppressed":false},"index":0,"partner":"partner-1","requestId":"req-00000001-b","timestamp":1735689601000}',
    );
    expect(parseEntryText(stored!.entry)).toEqual(receipt.entry);
    expect(stored!.leafHash).toBe(receipt.leafHash);
  });

  it("a tampered receipt does not verify", () => {
    const { log } = freshLog();
    fillLog(log, 9);
    const receipt = log.receipt(4);
    const bad = [
      { ...receipt, entry: { ...receipt.entry, decision: "accepted" as const } },
      { ...receipt, entry: { ...receipt.entry, partner: "partner-2" } },
      { ...receipt, index: 5 },
      { ...receipt, inclusion: receipt.inclusion.slice(1) },
      { ...receipt, inclusion: [...receipt.inclusion].reverse() },
      { ...receipt, treeHead: { ...receipt.treeHead, treeSize: 10 } },
      { ...receipt, treeHead: { ...receipt.treeHead, timestamp: receipt.treeHead.timestamp + 1 } },
      { ...receipt, leafHash: "00".repeat(32) },
      { ...receipt, extra: 1 },
      null,
    ];
    for (const candidate of bad) expect(verifyReceipt(candidate, log.logKey).ok).toBe(false);
    const other = freshLog(OTHER_SECRET).log;
    expect(verifyReceipt(receipt, other.logKey).ok).toBe(false);
    expect(() => verifyReceipt(receipt, "not a key")).toThrow(TypeError);
  });

  it("refuses out-of-range indices and sizes", () => {
    const { log } = freshLog();
    fillLog(log, 3);
    expect(() => log.receipt(3)).toThrow(RangeError);
    expect(() => log.receipt(2, 2)).toThrow(RangeError);
    expect(() => log.receipt(0, 4)).toThrow(RangeError);
    expect(() => log.consistency(4)).toThrow(RangeError);
    expect(() => log.consistency(2, 1)).toThrow(RangeError);
    expect(() => log.entries(2, 1)).toThrow(RangeError);
  });
});

describe("tree heads and consistency", () => {
  it("consistency proofs between every pair of sizes 0..20 verify against the signed heads", () => {
    const { log } = freshLog();
    const empty = log.treeHead();
    expect(empty.treeSize).toBe(0);
    expect(verifyTreeHead(empty, log.logKey)).toBe(true);
    fillLog(log, 20);
    const leaves = leavesOf(log);
    for (let newSize = 0; newSize <= 20; newSize++) {
      for (let oldSize = 0; oldSize <= newSize; oldSize++) {
        const proof = log.consistency(oldSize, newSize);
        expect(proof).toEqual(consistencyProof(leaves.slice(0, newSize), oldSize).map(toHex));
        const result = verifyHeadConsistency(log.headAt(oldSize), log.headAt(newSize), proof, log.logKey);
        expect(result, `${oldSize} -> ${newSize}`).toEqual({ ok: true });
        if (oldSize > 0 && oldSize < newSize) {
          const wrongOld = log.headAt(oldSize - 1);
          expect(verifyHeadConsistency(wrongOld, log.headAt(newSize), proof, log.logKey).ok).toBe(false);
        }
      }
    }
    expect(log.consistency(7)).toEqual(log.consistency(7, 20));
  });

  it("signs one head per append and returns the latest", () => {
    const { log } = freshLog();
    fillLog(log, 6);
    const heads = log.heads();
    expect(heads.map((head) => head.treeSize)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(log.treeHead()).toEqual(heads[5]);
    for (const head of heads) expect(verifyTreeHead(head, log.logKey)).toBe(true);
    expect(verifyTreeHead({ ...heads[5]!, rootHash: heads[4]!.rootHash }, log.logKey)).toBe(false);
    expect(verifyTreeHead(heads[5], freshLog(OTHER_SECRET).log.logKey)).toBe(false);
    expect(verifyAuditLog(log.entries(), heads, log.logKey)).toMatchObject({ ok: true, treeSize: 6 });
  });

  it("binds a database to one log key", () => {
    const { db, log } = freshLog();
    fillLog(log, 2);
    expect(() => new AuditLog(db, { secretKey: OTHER_SECRET })).toThrow(AuditIntegrityError);
    const again = new AuditLog(db, { secretKey: LOG_SECRET });
    expect(again.size()).toBe(2);
    again.append(sampleEvent(2));
    expect(verifyAuditLog(again.entries(), again.heads(), again.logKey).ok).toBe(true);
  });

  it("finds a partner's entries for receipt listings", () => {
    const { log } = freshLog();
    fillLog(log, 30);
    const mine = log.findEntries({ partner: "partner-1" });
    expect(mine.length).toBeGreaterThan(0);
    for (const row of mine) expect(parseEntryText(row.entry).partner).toBe("partner-1");
    expect(
      log.findEntries({ partner: null }).every((row) => parseEntryText(row.entry).partner === null),
    ).toBe(true);
    expect(log.findEntries({ requestId: sampleEvent(17).requestId }).map((row) => row.index)).toEqual([17]);
    const page = log.findEntries({ partner: "partner-1", afterIndex: mine[1]!.index, limit: 2 });
    expect(page.map((row) => row.index)).toEqual(mine.slice(2, 4).map((row) => row.index));
  });
});

describe("atomicity: a failed log write refuses the request", () => {
  function withDecisions(db: Database.Database) {
    db.exec("CREATE TABLE decisions (request_id TEXT PRIMARY KEY, outcome TEXT NOT NULL)");
    const insert = db.prepare("INSERT INTO decisions VALUES (?, ?)");
    const count = () => db.prepare("SELECT count(*) FROM decisions").pluck().get() as number;
    return { insert, count };
  }

  it("a trigger raising on insert: append throws and the caller's transaction rolls back", () => {
    const { db, log } = freshLog();
    const decisions = withDecisions(db);
    fillLog(log, 3);
    db.exec(
      "CREATE TRIGGER audit_full BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'disk full'); END",
    );
    const decide = db.transaction((i: number) => {
      decisions.insert.run(`req-${i}`, "accepted");
      return log.append(sampleEvent(i));
    });
    expect(() => decide(3)).toThrow(/disk full/);
    expect(decisions.count()).toBe(0);
    expect(log.size()).toBe(3);
    expect(log.heads()).toHaveLength(3);
    db.exec("DROP TRIGGER audit_full");
    expect(decide(3).index).toBe(3);
    expect(decisions.count()).toBe(1);
    expect(verifyAuditLog(log.entries(), log.heads(), log.logKey).ok).toBe(true);
  });

  it("a dropped heads table: the entry already written is rolled back with the decision", () => {
    const { db, log } = freshLog();
    const decisions = withDecisions(db);
    fillLog(log, 2);
    db.exec("DROP TABLE audit_heads");
    const decide = db.transaction(() => {
      decisions.insert.run("req-x", "accepted");
      log.append(sampleEvent(2));
    });
    expect(() => decide()).toThrow(/audit_heads/);
    expect(decisions.count()).toBe(0);
    expect(log.size()).toBe(2);
    expect(db.prepare("SELECT count(*) FROM audit_nodes").pluck().get()).toBe(3);
  });

  it("a read-only database: append throws", () => {
    const file = join(scratch, "readonly.db");
    const writable = new Database(file);
    fillLog(new AuditLog(writable, { secretKey: LOG_SECRET }), 2);
    writable.close();
    const readonly = new Database(file, { readonly: true });
    expect(() => new AuditLog(readonly, { secretKey: LOG_SECRET }).append(sampleEvent(2))).toThrow(
      /readonly/,
    );
    readonly.close();
  });

  it("a log whose latest head no longer matches its tree refuses to extend or prove", () => {
    const { db, log } = freshLog();
    fillLog(log, 5);
    dropGuards(db);
    db.prepare("UPDATE audit_nodes SET hash = ? WHERE level = 0 AND idx = 4").run(Buffer.alloc(32, 7));
    expect(() => log.append(sampleEvent(5))).toThrow(AuditIntegrityError);
    expect(() => log.treeHead()).toThrow(AuditIntegrityError);
    expect(() => log.receipt(4)).toThrow(AuditIntegrityError);
    expect(log.size()).toBe(5);
  });
});

describe("no secrets in the log", () => {
  it("refuses detail fields named like secrets, and credential-shaped values, with TypeError", () => {
    const { log } = freshLog();
    const names = [
      "secret",
      "clientSecret",
      "salt",
      "salts",
      "witness",
      "token",
      "accessToken",
      "refresh_token",
    ];
    names.push("password", "privateKey", "api_key", "credentials", "cookie", "datasetSecret", "seed");
    for (const name of names) {
      const event = { ...sampleEvent(0), details: { [name]: "x" } };
      expect(() => log.append(event), name).toThrow(TypeError);
    }
    const values = [
      "Bearer abc.def",
      "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJwIn0.c2ln",
      "-----BEGIN PRIVATE KEY-----",
    ];
    for (const value of values) {
      expect(() => log.append({ ...sampleEvent(0), details: { note: value } }), value).toThrow(TypeError);
    }
    expect(() => log.append({ ...sampleEvent(0), witness: ["1"] } as never)).toThrow(TypeError);
    expect(() => log.append({ ...sampleEvent(0), requestId: "Bearer abc" })).toThrow(TypeError);
    expect(log.size()).toBe(0);
  });

  it("refuses malformed events with TypeError/RangeError naming the field", () => {
    const { log } = freshLog();
    const base = sampleEvent(0);
    expect(() => log.append({ ...base, decision: "maybe" as never })).toThrow(/decision/);
    expect(() => log.append({ ...base, action: "" })).toThrow(/action/);
    expect(() => log.append({ ...base, partner: 3 as never })).toThrow(/partner/);
    expect(() => log.append({ ...base, requestId: "a\u0000b" })).toThrow(/requestId/);
    expect(() => log.append({ ...base, requestId: "x".repeat(129) })).toThrow(RangeError);
    expect(() => log.append({ ...base, details: { n: 1.5 } })).toThrow(/details\.n/);
    expect(() => log.append({ ...base, details: { nested: { a: 1 } } as never })).toThrow(/details\.nested/);
    expect(() => log.append({ ...base, details: { "bad key": 1 } })).toThrow(/details key/);
    expect(log.size()).toBe(0);
  });
});

describe("performance at 10^4 entries", () => {
  it("append, receipt and consistency stay O(log n)", () => {
    const file = join(scratch, "perf.db");
    const db = new Database(file);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    const log = new AuditLog(db, { secretKey: LOG_SECRET });
    const total = 10_000;
    let start = performance.now();
    const bulk = db.transaction(() => fillLog(log, total - 100));
    bulk();
    const bulkMs = performance.now() - start;
    // The last 100 each in their own transaction, as a service would append them.
    start = performance.now();
    fillLog(log, 100, total - 100);
    const appendMs = (performance.now() - start) / 100;
    start = performance.now();
    for (let i = 0; i < 200; i++) log.receipt((i * 7919) % total);
    const receiptMs = (performance.now() - start) / 200;
    start = performance.now();
    for (let i = 1; i <= 200; i++) log.consistency((i * 4999) % total);
    const consistencyMs = (performance.now() - start) / 200;
    start = performance.now();
    const result = verifyAuditLog(log.entries(), log.heads(), log.logKey);
    const verifyMs = performance.now() - start;
    expect(result).toMatchObject({ ok: true, treeSize: total });
    console.log(
      `[audit perf] ${total} entries: bulk append ${(bulkMs / (total - 100)).toFixed(3)} ms/entry, ` +
        `single-transaction append ${appendMs.toFixed(3)} ms, receipt ${receiptMs.toFixed(3)} ms, ` +
        `consistency proof ${consistencyMs.toFixed(3)} ms, full verification ${verifyMs.toFixed(0)} ms`,
    );
    // Generous bounds for a loaded 2-core box; O(n) work per call would be far above them.
    expect(appendMs).toBeLessThan(20);
    expect(receiptMs).toBeLessThan(10);
    expect(consistencyMs).toBeLessThan(10);
    db.close();
  });
});
