/**
 * Manifest receipts across audit-log key rotations (issue 13, point 3): a receipt fetched after the log
 * rotated its key is signed by the newer key; the SDK checks it from the pinned FIRST log key and the
 * rotations `GET /v1/transparency/log-keys` serves (fetched here over real HTTP from the transparency
 * routes), and refuses it with only the first key, a forged rotation statement, a chain that starts from
 * another key, or a head the retired key signed beyond its span, each with a reason that says so.
 */
import { readFileSync } from "node:fs";
import { ed25519 } from "@noble/curves/ed25519.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { AuditLog } from "../src/audit/log.ts";
import { importLogSigner, signTreeHead } from "../src/audit/sth.ts";
import type { AuditReceipt } from "../src/audit/types.ts";
import { makeLayout } from "../src/dataset/layout.ts";
import { buildManifest, manifestHash } from "../src/dataset/manifest.ts";
import { signManifest } from "../src/dataset/manifest-sign.ts";
import { parseSchema } from "../src/dataset/schema.ts";
import { VerifierInputError } from "../src/verifier/errors.ts";
import {
  checkManifestKey,
  keyStatementSigningBytes,
  REVOCATION_TYPE,
  resolveKeyChain,
} from "../src/verifier/key-chain.ts";
import { resolveLogKeyChain } from "../src/verifier/log-key-chain.ts";
import { queryEvent as event, transparencyStubDuringTests } from "./helpers/transparency-stub.ts";

const FIRST = { secretKey: new Uint8Array(32).fill(1) };
const SECOND = { secretKey: new Uint8Array(32).fill(2) };
const THIRD = { secretKey: new Uint8Array(32).fill(3) };
const ATTACKER = importLogSigner({ secretKey: new Uint8Array(32).fill(9) });
const firstKey = importLogSigner(FIRST).logKey;
const operatorSecret = new Uint8Array(32).fill(5);
const operatorKey = bytesToHex(ed25519.getPublicKey(operatorSecret));

const schema = parseSchema(
  JSON.parse(readFileSync(new URL("../examples/wikimedia/schema.json", import.meta.url), "utf8")),
);
const manifest = signManifest(
  buildManifest({
    datasetId: "ds-log-keys",
    epoch: 1,
    schema,
    recordCount: 3,
    layout: makeLayout({ capacity: 64, fields: 8, width: 32, leafRecords: 4, arity: 16 }),
    root: 42n,
    createdAt: new Date("2026-11-01T00:00:00Z"),
    circuits: [],
  }),
  operatorSecret,
);

/** The operator key revoked (by itself) at log size 3: its manifests need a receipt below index 3. */
function revokedChain() {
  const body = {
    type: REVOCATION_TYPE,
    key: operatorKey,
    revokedAtLogSize: 3,
    createdAt: "2026-11-02T00:00:00.000Z",
    signerKey: operatorKey,
  } as const;
  const signature = bytesToHex(ed25519.sign(keyStatementSigningBytes(body), operatorSecret));
  return resolveKeyChain(operatorKey, [{ ...body, signature }]);
}

/** The manifest registered at index 1; the log rotates to SECOND (entry 4), then to THIRD (entry 7). */
function rotatedLog() {
  const log = new AuditLog(new Database(":memory:"), FIRST, { now: () => 1_700_000_000_000 });
  log.append(event(0));
  const registered = log.append({
    partner: null,
    action: "dataset.register",
    decision: "accepted",
    requestId: "register-1",
    details: { datasetId: manifest.datasetId, manifestHash: manifestHash(manifest) },
  });
  log.append(event(2));
  log.append(event(3));
  log.rotateKey(SECOND, { partner: null, requestId: "rotate-1" });
  log.append(event(5));
  log.append(event(6));
  log.rotateKey(THIRD, { partner: null, requestId: "rotate-2" });
  log.append(event(8));
  return { log, index: registered.index };
}

describe("manifest receipts across audit-log key rotations, over HTTP", () => {
  let current = rotatedLog();
  const stub = transparencyStubDuringTests(() => current.log);
  const served = async () => {
    const response = await fetch(`${stub.url()}/v1/transparency/log-keys`);
    expect(response.status).toBe(200);
    return (await response.json()) as { firstLogKey: string; logKey: string; rotations: unknown[] };
  };
  const check = (receipt: unknown, logKeyRotations?: unknown) =>
    checkManifestKey(manifest, revokedChain(), {
      receipt,
      logKey: firstKey,
      ...(logKeyRotations === undefined ? {} : { logKeyRotations }),
    });

  it("serves the rotations, and a receipt signed by the newest key verifies from the first key", async () => {
    const { log, index } = current;
    const chain = await served();
    expect(chain).toMatchObject({ firstLogKey: firstKey, logKey: importLogSigner(THIRD).logKey });
    expect(chain.rotations).toEqual([...log.keyRotations()]);
    expect(chain.rotations).toHaveLength(2);
    const receipt = log.receipt(index);
    expect(receipt.treeHead.logKey).toBe(importLogSigner(THIRD).logKey);
    expect(check(receipt, chain)).toEqual({ ok: true, key: operatorKey });
    expect(check(receipt, chain.rotations)).toEqual({ ok: true, key: operatorKey }); // the bare array
    // Receipts under the middle and the first key, each within its span, verify too.
    expect(check(log.receipt(index, 5), chain)).toEqual({ ok: true, key: operatorKey });
    expect(check(log.receipt(index, 3), chain)).toEqual({ ok: true, key: operatorKey });
    expect(check(log.receipt(index, 3))).toEqual({ ok: true, key: operatorKey }); // before any rotation
  });

  it("fails with only the first key, naming the unannounced key and where the rotations are", () => {
    const { log, index } = current;
    expect(check(log.receipt(index))).toEqual({
      ok: false,
      reason: expect.stringMatching(
        /^revoked operator key: the receipt's tree head is signed by another log key [0-9a-f]{16}…, which no rotation from the pinned key announces \(after an audit-log key rotation, pass the log key rotations: GET \/v1\/transparency\/log-keys\)$/,
      ),
    });
  });

  it("rejects a forged rotation statement, a chain from another key and a retired key beyond its span", async () => {
    const { log, index } = current;
    const receipt = log.receipt(index);
    const chain = await served();
    const [rotation, second] = chain.rotations as Record<string, unknown>[];
    const forged = { ...chain, rotations: [{ ...rotation, newLogKey: ATTACKER.logKey }, second] };
    expect(check(receipt, forged)).toEqual({
      ok: false,
      reason: `revoked operator key: the log key rotation at entry 4 is not signed by the key in force ${firstKey.slice(0, 16)}…`,
    });
    // A statement the attacker signs itself does not rotate away from the key in force.
    const own = { ...(rotation as object), oldLogKey: ATTACKER.logKey };
    expect(check(receipt, [own, second]).ok).toBe(false);
    expect(check(receipt, { ...chain, firstLogKey: ATTACKER.logKey })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/the log key chain starts from .*, not from the pinned first log key/),
    });
    // The first key, retired at size 5, signs a head of the full tree: refused even with the chain.
    const late = signTreeHead(
      { treeSize: receipt.treeHead.treeSize, rootHash: receipt.treeHead.rootHash, timestamp: 1 },
      importLogSigner(FIRST),
    );
    expect(check({ ...receipt, treeHead: late } satisfies AuditReceipt, chain)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/is signed by log key .*, which is in force only for tree sizes 0 to 5/),
    });
    expect(() => check(receipt, { rotations: [{ ...rotation, extra: 1 }] })).toThrow(VerifierInputError);
  });

  it("a log that never rotated serves no rotations, and the first key alone suffices", async () => {
    current = { log: new AuditLog(new Database(":memory:"), FIRST), index: 0 };
    current.log.append({
      partner: null,
      action: "dataset.register",
      decision: "accepted",
      requestId: "register-2",
      details: { manifestHash: manifestHash(manifest) },
    });
    expect(await served()).toEqual({ firstLogKey: firstKey, logKey: firstKey, rotations: [] });
    expect(resolveLogKeyChain(firstKey, await served())).toEqual({
      ok: true,
      chain: { firstLogKey: firstKey, spans: [{ logKey: firstKey, fromSize: 0 }] },
    });
    expect(check(current.log.receipt(0), await served())).toEqual({ ok: true, key: operatorKey });
  });
});
