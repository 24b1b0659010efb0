/**
 * Tamper detection: each kind of edit an attacker with write access to the SQLite file can make (edit,
 * delete, reorder, truncate, insert; with and without recomputing hashes; forged heads) is found by
 * `verifyAuditLog` at the index where it happens, a rewritten log fails against an old signed head, and
 * `zktally audit verify` reports the same with exit code 1.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { AuditLog } from "../src/audit/log.ts";
import { leafHash } from "../src/audit/merkle.ts";
import { readHeads, readRawEntries, readRawHeads } from "../src/audit/store.ts";
import type { AuditEvent, SignedTreeHead } from "../src/audit/types.ts";
import { verifyAuditLog, verifyHeadConsistency } from "../src/audit/verify.ts";
import { runAudit } from "../src/cli/commands/audit.ts";
import { canonicalJson } from "../src/util/canonical-json.ts";

const LOG_SECRET = new Uint8Array(createHash("sha256").update("zktally audit test key").digest());
const SIZE = 20;

function sampleEvent(i: number): AuditEvent {
  const decisions = ["accepted", "refused", "failed"] as const;
  return {
    partner: `partner-${i % 3}`,
    action: "query.submit",
    decision: decisions[i % 3] as AuditEvent["decision"],
    requestId: `req-${i}-${createHash("sha256").update(String(i)).digest("hex").slice(0, 12)}`,
    details: { datasetId: "wiki-edits", n: i },
  };
}

function freshLog(file = ":memory:", size = SIZE): { db: Database.Database; log: AuditLog } {
  const db = new Database(file);
  let tick = Date.UTC(2025, 0, 1);
  const log = new AuditLog(db, { secretKey: LOG_SECRET }, { now: () => (tick += 1000) });
  for (let i = 0; i < size; i++) log.append(sampleEvent(i));
  return { db, log };
}

/** Drops the append-only triggers, as an attacker with write access to the file would. */
function dropGuards(db: Database.Database): void {
  const names = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit%'")
    .pluck()
    .all();
  for (const name of names as string[]) db.exec(`DROP TRIGGER "${name}"`);
}

function verifyDb(db: Database.Database, logKey: string, extraHeads: unknown[] = []) {
  return verifyAuditLog(readRawEntries(db), [...readRawHeads(db), ...extraHeads], logKey);
}

/** Rewrites an entry's JSON (e.g. its index) and returns the new text and matching leaf hash. */
function rewrite(text: string, change: Record<string, unknown>): { entry: string; leaf: Buffer } {
  const entry = canonicalJson({ ...JSON.parse(text), ...change });
  return { entry, leaf: Buffer.from(leafHash(Buffer.from(entry, "utf8"))) };
}

/** Replaces the whole entries table with `rows` (idx, entry, leaf_hash), as a careful attacker would. */
function replaceEntries(
  db: Database.Database,
  rows: { idx: number; entry: string; leaf_hash: Uint8Array }[],
) {
  db.exec("DELETE FROM audit_entries");
  const insert = db.prepare(
    "INSERT INTO audit_entries (idx, entry, leaf_hash, partner, request_id) VALUES (?, ?, ?, 'x', 'x')",
  );
  for (const row of rows) insert.run(row.idx, row.entry, row.leaf_hash);
}

const scratch = mkdtempSync(join(tmpdir(), "zktally-audit-verify-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("an intact log verifies", () => {
  it("from raw rows and from StoredEntry objects", () => {
    const { db, log } = freshLog();
    expect(verifyDb(db, log.logKey)).toMatchObject({ ok: true, treeSize: SIZE, headsChecked: SIZE });
    expect(verifyAuditLog(log.entries(), log.heads(), log.logKey)).toMatchObject({ ok: true });
    expect(verifyAuditLog([], [], log.logKey)).toMatchObject({ ok: true, treeSize: 0 });
  });
});

describe("tampering is detected at the index where it happens", () => {
  it("edit of a row's bytes", () => {
    const { db, log } = freshLog();
    dropGuards(db);
    db.exec(
      `UPDATE audit_entries SET entry = replace(entry, '"decision":"accepted"', '"decision":"refused"') WHERE idx = 6`,
    );
    expect(verifyDb(db, log.logKey)).toMatchObject({
      ok: false,
      index: 6,
      reason: expect.stringMatching(/leaf hash/),
    });
  });

  it("edit with the leaf hash and node cache recomputed", () => {
    const { db, log } = freshLog();
    dropGuards(db);
    const [row] = readRawEntries(db, 6, 7);
    const forged = rewrite(row!.entry, { decision: "refused" });
    db.prepare("UPDATE audit_entries SET entry = ?, leaf_hash = ? WHERE idx = 6").run(
      forged.entry,
      forged.leaf,
    );
    db.prepare("UPDATE audit_nodes SET hash = ? WHERE level = 0 AND idx = 6").run(forged.leaf);
    expect(verifyDb(db, log.logKey)).toMatchObject({
      ok: false,
      index: 6,
      reason: expect.stringMatching(/signed tree head of size 7/),
    });
  });

  it("deletion of a row, with or without renumbering the rest", () => {
    const { db, log } = freshLog();
    dropGuards(db);
    db.exec("DELETE FROM audit_entries WHERE idx = 9");
    expect(verifyDb(db, log.logKey)).toMatchObject({
      ok: false,
      index: 9,
      reason: expect.stringMatching(/missing/),
    });
    const rows = readRawEntries(db).map((row, position) => ({ ...row, idx: position }));
    replaceEntries(db, rows);
    expect(verifyDb(db, log.logKey)).toMatchObject({
      ok: false,
      index: 9,
      reason: expect.stringMatching(/says it is entry 10/),
    });
    // Renumbered and re-hashed too: only the signed heads notice.
    replaceEntries(
      db,
      rows.map((row) => {
        const forged = rewrite(row.entry, { index: row.idx });
        return { idx: row.idx, entry: forged.entry, leaf_hash: forged.leaf };
      }),
    );
    expect(verifyDb(db, log.logKey)).toMatchObject({
      ok: false,
      index: 9,
      reason: expect.stringMatching(/size 10/),
    });
  });

  it("reordering of two rows, with or without fixing their index fields", () => {
    const { db, log } = freshLog();
    dropGuards(db);
    const rows = readRawEntries(db);
    const swapped = rows.map((row) => ({ ...row }));
    [swapped[3]!.entry, swapped[11]!.entry] = [rows[11]!.entry, rows[3]!.entry];
    [swapped[3]!.leaf_hash, swapped[11]!.leaf_hash] = [rows[11]!.leaf_hash, rows[3]!.leaf_hash];
    replaceEntries(db, swapped);
    expect(verifyDb(db, log.logKey)).toMatchObject({
      ok: false,
      index: 3,
      reason: expect.stringMatching(/reordered/),
    });
    const fixed = swapped.map((row) => {
      const forged = rewrite(row.entry, { index: row.idx });
      return { idx: row.idx, entry: forged.entry, leaf_hash: forged.leaf };
    });
    replaceEntries(db, fixed);
    expect(verifyDb(db, log.logKey)).toMatchObject({ ok: false, index: 3 });
  });

  it("truncation: caught by the stored heads, and by an external head when those are deleted too", () => {
    const { db, log } = freshLog();
    const partnerReceipt = log.receipt(17); // held by a partner, outside the database
    dropGuards(db);
    db.exec("DELETE FROM audit_entries WHERE idx >= 15");
    expect(verifyDb(db, log.logKey)).toMatchObject({
      ok: false,
      index: 15,
      reason: expect.stringMatching(/truncated/),
    });
    db.exec("DELETE FROM audit_heads WHERE tree_size > 15");
    // Entries and the heads covering them both gone: the database alone cannot tell...
    expect(verifyDb(db, log.logKey)).toMatchObject({ ok: true, treeSize: 15 });
    // ...the partner's receipt can.
    expect(verifyDb(db, log.logKey, [partnerReceipt.treeHead])).toMatchObject({ ok: false, index: 15 });
  });

  it("insertion in the middle (consistently re-indexed and re-hashed) and at the end", () => {
    const { db, log } = freshLog();
    dropGuards(db);
    const rows = readRawEntries(db);
    const fake = rewrite(rows[5]!.entry, { requestId: "req-forged", decision: "accepted" });
    const shifted = [
      ...rows.slice(0, 5),
      { idx: 5, entry: fake.entry, leaf_hash: fake.leaf },
      ...rows.slice(5).map((row) => {
        const forged = rewrite(row.entry, { index: row.idx + 1 });
        return { idx: row.idx + 1, entry: forged.entry, leaf_hash: forged.leaf };
      }),
    ];
    replaceEntries(db, shifted);
    expect(verifyDb(db, log.logKey)).toMatchObject({
      ok: false,
      index: 5,
      reason: expect.stringMatching(/size 6/),
    });

    const clean = freshLog();
    dropGuards(clean.db);
    const appended = rewrite(readRawEntries(clean.db, 19, 20)[0]!.entry, {
      index: 20,
      requestId: "req-added",
    });
    clean.db
      .prepare(
        "INSERT INTO audit_entries (idx, entry, leaf_hash, partner, request_id) VALUES (20, ?, ?, 'p', 'r')",
      )
      .run(appended.entry, appended.leaf);
    expect(verifyDb(clean.db, clean.log.logKey)).toMatchObject({
      ok: false,
      index: 20,
      reason: expect.stringMatching(/not covered/),
    });
  });

  it("a stored head with a bad signature, or signed by another key", () => {
    const { db, log } = freshLog();
    const [head] = readHeads(db).slice(-1) as SignedTreeHead[];
    const insert = db.prepare(
      "INSERT INTO audit_heads (tree_size, root_hash, timestamp, log_key, signature) VALUES (?, ?, ?, ?, ?)",
    );
    insert.run(head!.treeSize, head!.rootHash, head!.timestamp + 1, head!.logKey, head!.signature);
    expect(verifyDb(db, log.logKey)).toMatchObject({
      ok: false,
      index: 19,
      reason: expect.stringMatching(/signature/),
    });
    const otherSecret = new Uint8Array(createHash("sha256").update("another log").digest());
    const other = new AuditLog(new Database(":memory:"), { secretKey: otherSecret });
    expect(verifyDb(freshLog().db, other.logKey)).toMatchObject({
      ok: false,
      index: 0,
      reason: expect.stringMatching(/another log key/),
    });
  });
});

describe("a log rewritten by the key holder is inconsistent with old heads", () => {
  it("the consistency proof from an old head to the rewritten log fails", () => {
    const original = freshLog(":memory:", 10);
    const oldHead = original.log.treeHead(); // e.g. in a partner's receipt
    // The operator rebuilds history with entry 4 changed and keeps appending, signing every head.
    const db = new Database(":memory:");
    let tick = Date.UTC(2025, 0, 1);
    const rewritten = new AuditLog(db, { secretKey: LOG_SECRET }, { now: () => (tick += 1000) });
    for (let i = 0; i < 20; i++)
      rewritten.append(i === 4 ? { ...sampleEvent(4), decision: "accepted" } : sampleEvent(i));
    const proof = rewritten.consistency(10);
    const result = verifyHeadConsistency(oldHead, rewritten.treeHead(), proof, rewritten.logKey);
    expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(/not an extension/) });
    // The honest continuation of the original log passes the same check.
    for (let i = 10; i < 20; i++) original.log.append(sampleEvent(i));
    const honest = original.log.consistency(10);
    expect(verifyHeadConsistency(oldHead, original.log.treeHead(), honest, original.log.logKey)).toEqual({
      ok: true,
    });
    // Whole-log verification with the old head: a fork at size 10.
    expect(verifyDb(db, rewritten.logKey, [oldHead])).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/fork/),
    });
    const onlyOld = verifyAuditLog(readRawEntries(db), [oldHead], rewritten.logKey, {
      requireCoverage: false,
    });
    expect(onlyOld).toMatchObject({ ok: false, index: 0, reason: expect.stringMatching(/\[0, 9\]/) });
  });
});

describe("zktally audit", () => {
  function capture() {
    const out: string[] = [];
    const err: string[] = [];
    return { output: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) }, out, err };
  }

  it("verify: exit 0 intact, 1 tampered with the index, 2 unreadable", async () => {
    const file = join(scratch, "service.db");
    const { db, log } = freshLog(file);
    const receipt = log.receipt(19);
    db.close();
    let io = capture();
    expect(await runAudit(["verify", "--db", file, "--log-key", log.logKey], io.output)).toBe(0);
    expect(io.out.join("")).toMatch(/^OK {2}audit log intact: 20 entries/);
    expect(io.err.join("")).toBe("");

    io = capture();
    expect(await runAudit(["verify", "--db", file], io.output)).toBe(0);
    expect(io.err.join("")).toMatch(/warning: log key read from the database/);

    const tampered = new Database(file);
    dropGuards(tampered);
    tampered.exec("DELETE FROM audit_entries WHERE idx >= 12");
    tampered.exec("DELETE FROM audit_heads WHERE tree_size > 12");
    tampered.close();
    io = capture();
    expect(await runAudit(["verify", "--db", file, "--log-key", log.logKey], io.output)).toBe(0);
    const headsFile = join(scratch, "heads.json");
    writeFileSync(headsFile, JSON.stringify([receipt]));
    io = capture();
    expect(
      await runAudit(["verify", "--db", file, "--log-key", log.logKey, "--heads", headsFile], io.output),
    ).toBe(1);
    expect(io.out.join("")).toMatch(/^TAMPERED {2}at entry 12: .*truncated/);
    io = capture();
    const args = ["verify", "--db", file, "--log-key", log.logKey, "--heads", headsFile, "--json"];
    expect(await runAudit(args, io.output)).toBe(1);
    expect(JSON.parse(io.out.join(""))).toMatchObject({ ok: false, index: 12, externalHeads: 1 });

    const notDb = join(scratch, "not-a-db.db");
    writeFileSync(notDb, "hello");
    io = capture();
    expect(await runAudit(["verify", "--db", notDb, "--log-key", log.logKey], io.output)).toBe(2);
    io = capture();
    expect(await runAudit(["verify", "--db", join(scratch, "missing.db")], io.output)).toBe(2);
    await expect(runAudit(["verify"], io.output)).rejects.toThrow(/--db/);
    await expect(runAudit(["verify", "--db", file, "--log-key", "xyz"], io.output)).rejects.toThrow(
      /log-key/,
    );
    await expect(runAudit(["frobnicate"], io.output)).rejects.toThrow(/subcommand/);
  });

  it("head: prints the latest signed head as JSON", async () => {
    const file = join(scratch, "head.db");
    const { db, log } = freshLog(file, 5);
    const latest = log.treeHead();
    db.close();
    const io = capture();
    expect(await runAudit(["head", "--db", file], io.output)).toBe(0);
    expect(JSON.parse(io.out.join(""))).toEqual(latest);
    const empty = join(scratch, "empty.db");
    new AuditLog(new Database(empty), { secretKey: LOG_SECRET });
    expect(await runAudit(["head", "--db", empty], capture().output)).toBe(1);
  });
});
