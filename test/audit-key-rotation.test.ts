/**
 * Audit log signing key rotation without downtime (issue 13, point 3). A rotation is an entry of the log,
 * signed by the old key and naming the new one; old heads and receipts keep verifying with the old key; a
 * verifier walking the log (verifyAuditLog, `zktally audit verify`, the monitor) follows the chain of keys
 * from the pinned first key; a head signed by a key no rotation announces is rejected, and so is a head a
 * retired key signed beyond its span (a leaked old key cannot extend or fork the log). Over real HTTP: the
 * admin endpoint rotates a running service, which keeps serving and auditing, passes its own audit verify,
 * boots again after a restart, and `zktally audit monitor` reports the rotation; `serve admin keys
 * rotate-log` rotates offline; `GET /v1/transparency/log-keys` then serves both rotations, which the SDK
 * follows from the first key (test/log-key-chain.test.ts checks receipts with them).
 */
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { AuditLog } from "../src/audit/log.ts";
import { LOG_KEY_ROTATION_ACTION, rotationEvent } from "../src/audit/log-keys.ts";
import { leafHash, toHex } from "../src/audit/merkle.ts";
import { checkLogUpdate } from "../src/audit/monitor.ts";
import { importLogSigner, signTreeHead, verifyTreeHead } from "../src/audit/sth.ts";
import { readRawEntries, readRawHeads } from "../src/audit/store.ts";
import { AuditIntegrityError, type StoredEntry } from "../src/audit/types.ts";
import { verifyAuditLog, verifyReceipt } from "../src/audit/verify.ts";
import { runAudit } from "../src/cli/commands/audit.ts";
import { runAuditMonitor } from "../src/cli/commands/audit-monitor.ts";
import { serveCommand } from "../src/cli/commands/serve.ts";
import { databaseFileOf } from "../src/service/config.ts";
import { canonicalJson } from "../src/util/canonical-json.ts";
import { resolveLogKeyChain } from "../src/verifier/log-key-chain.ts";
import { captureCliOutput, serveFlags } from "./helpers/cli-output.ts";
import { addPartner, startTestService, type TestService, tempDir, token } from "./helpers/service.ts";
import {
  monitorOutput,
  queryEvent,
  runMonitor,
  transparencyStubDuringTests,
} from "./helpers/transparency-stub.ts";

const FIRST = { secretKey: new Uint8Array(32).fill(1) };
const SECOND = { secretKey: new Uint8Array(32).fill(2) };
const ATTACKER = { secretKey: new Uint8Array(32).fill(9) };
const firstKey = importLogSigner(FIRST).logKey;
const secondKey = importLogSigner(SECOND).logKey;
const subject = { partner: null, requestId: "rotate-1" };
const event = queryEvent;

/** 4 entries under the first key, the rotation (entry 4), 3 more under the second. */
function rotatedLog() {
  const db = new Database(":memory:");
  const log = new AuditLog(db, FIRST, { now: () => 1_700_000_000_000 });
  for (let n = 0; n < 4; n++) log.append(event(n));
  const before = { head: log.treeHead(), receipt: log.receipt(1) };
  const rotated = log.rotateKey(SECOND, subject);
  for (let n = 4; n < 7; n++) log.append(event(n));
  return { db, log, before, rotated };
}

/** A stored entry row rebuilt from an edited entry object (as an attacker with file access would). */
function storedRow(entry: Record<string, unknown>): StoredEntry {
  const text = canonicalJson(entry);
  return { index: entry.index as number, entry: text, leafHash: toHex(leafHash(Buffer.from(text, "utf8"))) };
}

describe("AuditLog.rotateKey and verifyAuditLog", () => {
  it("old heads and receipts verify with the old key; the log verifies from the first key", () => {
    const { db, log, before, rotated } = rotatedLog();
    expect(rotated).toMatchObject({ oldLogKey: firstKey, newLogKey: secondKey });
    expect(rotated.receipt.treeHead).toMatchObject({ treeSize: 5, logKey: firstKey });
    expect(rotated.treeHead).toMatchObject({ treeSize: 5, logKey: secondKey });
    expect(rotated.treeHead.rootHash).toBe(rotated.receipt.treeHead.rootHash);
    expect(log.logKey).toBe(secondKey);
    expect(log.firstLogKey).toBe(firstKey);

    expect(verifyAuditLog(readRawEntries(db), readRawHeads(db), firstKey)).toMatchObject({
      ok: true,
      treeSize: 8,
      logKey: secondKey,
      rotations: [{ index: 4, oldLogKey: firstKey, newLogKey: secondKey }],
    });
    expect(verifyTreeHead(before.head, firstKey)).toBe(true);
    expect(verifyReceipt(before.receipt, firstKey)).toEqual({ ok: true });
    expect(verifyReceipt(log.receipt(1, 4), firstKey)).toEqual({ ok: true });
    expect(verifyReceipt(log.receipt(1), secondKey)).toEqual({ ok: true });
    expect(log.treeHead().logKey).toBe(secondKey);

    // The chain is followed forward from the first key only: the first key's heads are unannounced, and
    // the rotation does not start from the pinned key.
    expect(verifyAuditLog(readRawEntries(db), readRawHeads(db), secondKey)).toMatchObject({
      ok: false,
      index: 0,
      reason: expect.stringMatching(/no rotation from the pinned key announces/),
    });
    expect(verifyAuditLog(readRawEntries(db), [], secondKey, { requireCoverage: false })).toMatchObject({
      ok: false,
      index: 4,
      reason: expect.stringMatching(/the key in force is .* \(pin the log's first key\)/),
    });
  });

  it("a head signed by an unannounced key, or by the retired key beyond its span, is rejected", () => {
    const { db, log } = rotatedLog();
    const latest = log.treeHead();
    const body = { treeSize: latest.treeSize, rootHash: latest.rootHash, timestamp: latest.timestamp + 1 };
    const entries = readRawEntries(db);
    const stranger = signTreeHead(body, importLogSigner(ATTACKER));
    expect(verifyAuditLog(entries, [...readRawHeads(db), stranger], firstKey)).toMatchObject({
      ok: false,
      index: 7,
      reason: expect.stringMatching(/another log key .* no rotation from the pinned key announces/),
    });
    const leaked = signTreeHead(body, importLogSigner(FIRST));
    expect(verifyAuditLog(entries, [...readRawHeads(db), leaked], firstKey)).toMatchObject({
      ok: false,
      index: 7,
      reason: expect.stringMatching(/in force only for tree sizes 0 to 5/),
    });
  });

  it("a forged rotation entry is refused at its index, and append never writes one", () => {
    const { log } = rotatedLog();
    const entries = log.entries();
    const rotation = JSON.parse((entries[4] as StoredEntry).entry);
    const attackerKey = importLogSigner(ATTACKER).logKey;
    // The new key swapped for the attacker's: the old key's signature no longer matches.
    const swapped = storedRow({ ...rotation, details: { ...rotation.details, newLogKey: attackerKey } });
    const withSwapped = entries.map((entry, i) => (i === 4 ? swapped : entry));
    expect(verifyAuditLog(withSwapped, [], firstKey, { requireCoverage: false })).toMatchObject({
      ok: false,
      index: 4,
      reason: expect.stringMatching(/log key rotation that is not signed by the key in force/),
    });
    // A rotation the attacker signs with their own key does not start from the key in force.
    const own = rotationEvent(importLogSigner(ATTACKER), secondKey, 4, subject);
    const forged = storedRow({ ...own, index: 4, timestamp: rotation.timestamp });
    const withForged = entries.map((entry, i) => (i === 4 ? forged : entry));
    expect(verifyAuditLog(withForged, [], firstKey, { requireCoverage: false })).toMatchObject({
      ok: false,
      index: 4,
      reason: expect.stringMatching(/rotates away from .* but the key in force is/),
    });
    expect(() => log.append({ ...event(9), action: LOG_KEY_ROTATION_ACTION })).toThrow(/rotateKey only/);
    expect(() => log.rotateKey(FIRST, subject)).toThrow(/never reused/);
  });

  it("a rotation whose transaction fails changes nothing", () => {
    const db = new Database(":memory:");
    const log = new AuditLog(db, FIRST);
    log.append(event(0));
    expect(() =>
      log.rotateKey(SECOND, subject, () => {
        throw new Error("disk full");
      }),
    ).toThrow("disk full");
    expect(log.logKey).toBe(firstKey);
    expect(log.size()).toBe(1);
    log.append(event(1));
    expect(log.treeHead().logKey).toBe(firstKey);
    expect(verifyAuditLog(readRawEntries(db), readRawHeads(db), firstKey)).toMatchObject({
      ok: true,
      rotations: [],
    });
    expect(() => new AuditLog(db, SECOND)).toThrow(AuditIntegrityError);
  });

  it("the database is only extended under its current key", () => {
    const { db } = rotatedLog();
    expect(() => new AuditLog(db, FIRST)).toThrow(AuditIntegrityError);
    const reopened = new AuditLog(db, SECOND);
    reopened.append(event(7));
    expect(reopened.firstLogKey).toBe(firstKey);
    expect(verifyAuditLog(readRawEntries(db), readRawHeads(db), firstKey)).toMatchObject({ ok: true });
  });
});

describe("the monitor follows log key rotations", () => {
  const snapshotOf = (log: AuditLog, from: number, treeHead: unknown = log.treeHead()) => ({
    treeHead,
    consistency: log.consistency(from),
    entries: log.entries().map((stored) => JSON.parse(stored.entry)),
  });

  it("accepts the rotation, reports an unannounced key and a retired key signing on", () => {
    const { log, before } = rotatedLog();
    expect(checkLogUpdate(before.head, snapshotOf(log, 4), firstKey)).toMatchObject({
      ok: true,
      treeSize: 8,
      newEntries: 4,
      logKey: secondKey,
      rotations: [{ index: 4, oldLogKey: firstKey, newLogKey: secondKey }],
    });
    const latest = log.treeHead();
    const body = { treeSize: latest.treeSize, rootHash: latest.rootHash, timestamp: latest.timestamp };
    const stranger = signTreeHead(body, importLogSigner(ATTACKER));
    expect(checkLogUpdate(before.head, snapshotOf(log, 4, stranger), firstKey)).toMatchObject({
      ok: false,
      problem: "unannounced-key",
    });
    const leaked = signTreeHead(body, importLogSigner(FIRST));
    expect(checkLogUpdate(before.head, snapshotOf(log, 4, leaked), firstKey)).toMatchObject({
      ok: false,
      problem: "bad-signature",
      reason: expect.stringMatching(/in force only for tree sizes 0 to 5/),
    });
  });

  describe("zktally audit monitor over HTTP", () => {
    let current: AuditLog;
    const stub = transparencyStubDuringTests(() => current);

    const monitor = (state: string, pin: string[] = ["--log-key", firstKey]) =>
      runMonitor(stub.url(), ["--state", state, ...pin]);

    it("prints the rotation, trusts the first key on first use, reports an unannounced key", async () => {
      const state = path.join(tempDir("monitor-rotation"), "state.json");
      const db = new Database(":memory:");
      current = new AuditLog(db, FIRST);
      for (let n = 0; n < 3; n++) current.append(event(n));
      expect((await monitor(state)).code).toBe(0);
      current.rotateKey(SECOND, subject);
      current.append(event(3));
      expect(await monitor(state)).toMatchObject({
        code: 0,
        text: expect.stringContaining(`log key rotated at entry 3: ${firstKey} -> ${secondKey}`),
      });
      const fresh = await monitor(path.join(tempDir("monitor-tofu"), "state.json"), []);
      expect(fresh).toMatchObject({ code: 0, text: expect.stringMatching(/^warning: trusting/) });

      current = new AuditLog(new Database(":memory:"), ATTACKER); // another key, never announced
      for (let n = 0; n < 6; n++) current.append(event(n));
      expect(await monitor(state)).toMatchObject({
        code: 1,
        text: expect.stringMatching(/^UNANNOUNCED-KEY {2}the served tree head is signed by another log key/),
      });
    });
  });
});

describe("log key rotation over real HTTP, across a restart and offline", () => {
  const dataDir = tempDir("log-rotation");
  const captured = captureCliOutput();
  let service: TestService;

  afterAll(async () => {
    await service?.close();
  });

  it("rotates a running service, which keeps auditing, verifies, restarts and is monitored", async () => {
    service = await startTestService({ dataDir });
    const ops = await addPartner(service, "ops", ["admin"]);
    const adminToken = await token(service, ops);
    const first = (await service.api("GET", "/v1/transparency/tree-head")).json.logKey as string;
    const state = path.join(tempDir("monitor-service"), "state.json");
    const watch = async () =>
      runAuditMonitor([service.url, "--state", state, "--log-key", first], monitorOutput().output);
    expect(await watch()).toBe(0);

    const rotated = await service.api("POST", "/v1/admin/keys/rotate-log", { token: adminToken });
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.json).toMatchObject({ oldLogKey: first, treeHead: { logKey: rotated.json.newLogKey } });
    const head = (await service.api("GET", "/v1/transparency/tree-head")).json;
    expect(head).toMatchObject({ logKey: rotated.json.newLogKey, firstLogKey: first });
    const created = await service.api("POST", "/v1/admin/partners", {
      token: adminToken,
      body: { clientId: "after-rotation", scopes: ["datasets:read"] },
    });
    expect(created.status, created.text).toBe(201);
    expect((await service.api("GET", "/v1/admin/audit/verify", { token: adminToken })).json).toMatchObject({
      ok: true,
      logKey: rotated.json.newLogKey,
      rotations: [{ index: rotated.json.index, oldLogKey: first }],
    });
    expect(await watch()).toBe(0);
    await service.close();

    service = await startTestService({ dataDir });
    expect(service.server.ctx.audit.log.logKey).toBe(rotated.json.newLogKey);
    const dbFile = databaseFileOf(service.server.ctx.config);
    await service.close();

    const verify = monitorOutput();
    expect(await runAudit(["verify", "--db", dbFile, "--log-key", first], verify.output)).toBe(0);
    expect(verify.text()).toContain(`1 key rotation(s) followed to ${rotated.json.newLogKey}`);
    const pinnedNew = ["verify", "--db", dbFile, "--log-key", rotated.json.newLogKey];
    expect(await runAudit(pinnedNew, monitorOutput().output)).toBe(1);

    // Offline rotation (the service is stopped): the next boot signs with the third key.
    expect(await serveCommand.run(["admin", "keys", "rotate-log", ...serveFlags(dataDir)])).toBe(0);
    const offline = JSON.parse(captured.text());
    expect(offline.oldLogKey).toBe(rotated.json.newLogKey);
    service = await startTestService({ dataDir });
    expect(service.server.ctx.audit.log.logKey).toBe(offline.newLogKey);
    expect(await watch()).toBe(0);
    // Both rotations are served (with the old keys' signatures) for the SDK to follow from the first key.
    const logKeys = (await service.api("GET", "/v1/transparency/log-keys")).json;
    expect(logKeys).toMatchObject({
      firstLogKey: first,
      logKey: offline.newLogKey,
      rotations: [{ oldLogKey: first }, { oldLogKey: rotated.json.newLogKey, newLogKey: offline.newLogKey }],
    });
    const resolved = resolveLogKeyChain(first, logKeys);
    expect(resolved.ok && resolved.chain.spans.map((span) => span.logKey)).toEqual([
      first,
      rotated.json.newLogKey,
      offline.newLogKey,
    ]);
  });
});
