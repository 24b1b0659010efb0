/**
 * Operator key rotation and revocation (issue 13, point 3) over real HTTP: a rotation statement signed by
 * the old key names the new one; after a restart new epochs are signed by the new key; the SDK and
 * `zktally verify --key-chain` accept them from the pinned original key; old bundles keep verifying. A key
 * marked compromised (revoked, signed by its successor) stops verifying manifests unless an audit-log
 * receipt proves they were logged before the revocation: a manifest forged with it afterwards is rejected.
 * After an audit-log key rotation, `zktally verify --log-key FIRST --log-key-chain FILE` (the saved
 * `GET /v1/transparency/log-keys`) accepts a receipt signed by the new log key, and the first key alone does not.
 * The storage, token and audit log keys rotate over HTTP while the service keeps answering, and bundles from
 * before still verify after a restart; a dataset committed for a circuit the service no longer serves is
 * refused with `409 circuit_retired`.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runVerify } from "../src/cli/verify-command.ts";
import { buildManifest, type DatasetManifest, manifestHash } from "../src/dataset/manifest.ts";
import { signManifest } from "../src/dataset/manifest-sign.ts";
import { DatasetStore } from "../src/service/datasets.ts";
import { loadServiceKey } from "../src/service/service-keys.ts";
import { checkManifestKey, resolveKeyChain } from "../src/verifier/key-chain.ts";
import { verify } from "../src/verifier/verify-bundle.ts";
import { TEST_KEYS_DIR } from "./helpers/keys.ts";
import {
  addDataset,
  addPartner,
  FR_COUNT,
  nonce,
  ROWS_A,
  SERVICE_SCHEMA,
  startTestService,
  type TestPartner,
  type TestService,
  tempDir,
  token,
  waitForJob,
} from "./helpers/service.ts";

const dataDir = tempDir("rotation");
let service: TestService;
let alice: TestPartner;
let keys: Record<string, unknown>;

async function restart(): Promise<void> {
  await service.close();
  service = await startTestService({ dataDir });
}

async function bundle(
  partner: TestPartner = alice,
  datasetId = "ds-r",
): Promise<{ manifest: Record<string, unknown> } & Record<string, unknown>> {
  const accessToken = await token(service, partner);
  const submitted = await service.api("POST", "/v1/queries", {
    token: accessToken,
    body: { datasetId, query: FR_COUNT, nonce: nonce() },
  });
  const job = await waitForJob(service, accessToken, submitted.json.jobId);
  expect(job.state).toBe("done");
  return (await service.api("GET", `/v1/jobs/${job.jobId}/bundle`, { token: accessToken })).json;
}

const check = (b: unknown, operatorKey: string) => verify(b, { keys, operatorKey, allowInsecureKeys: true });

beforeAll(async () => {
  service = await startTestService({ dataDir });
  await addDataset(service, "ds-r", ROWS_A);
  alice = await addPartner(service, "alice", ["datasets:read", "queries:submit"], {
    datasets: ["ds-r"],
    fields: ["country"],
    aggregates: ["count"],
    minGroupSize: 1,
  });
  const circuits = await service.api("GET", "/v1/circuits", { token: await token(service, alice) });
  keys = Object.fromEntries(
    circuits.json.circuits.map((c: { circuitId: string; vkey: unknown }) => [c.circuitId, c.vkey]),
  );
});

afterAll(async () => {
  await service?.close();
});

describe("operator key rotation", () => {
  it("rotates, revokes a compromised key, and keeps only logged-before manifests of it valid", async () => {
    const pinned = service.server.ctx.operatorKey;
    const oldBundle = await bundle();

    // Rotate to K2 (a key the test holds, standing in for one that will leak), restart, commit epoch 2.
    const k2 = ed25519.utils.randomSecretKey();
    const rotation = service.admin.rotateOperatorKey(null, crypto.randomUUID(), k2);
    expect(rotation.oldKey).toBe(pinned);
    await restart();
    expect(service.server.ctx.operatorKey).toBe(rotation.newKey);
    await addDataset(service, "ds-r", ROWS_A.slice(1));
    const k2Bundle = await bundle();
    expect(k2Bundle.manifest.operatorKey).toBe(rotation.newKey);

    const served = await service.api("GET", "/v1/operator-keys");
    expect(served.status).toBe(200);
    const chain = resolveKeyChain(pinned, served.json);
    expect(chain.keys).toEqual([pinned, rotation.newKey]);
    expect(check(k2Bundle, pinned).valid).toBe(false); // the pinned key alone does not reach it
    const chainFile = path.join(dataDir, "..", "chain.json");
    const bundleFile = path.join(dataDir, "..", "bundle.json");
    writeFileSync(chainFile, served.text);
    writeFileSync(bundleFile, JSON.stringify(k2Bundle));
    let out = "";
    const output = {
      out: (text: string) => {
        out += text;
      },
      err: (text: string) => {
        out += text;
      },
    };
    const args = [
      bundleFile,
      "--keys",
      TEST_KEYS_DIR,
      "--operator-key",
      pinned,
      "--key-chain",
      chainFile,
      "--allow-insecure-keys",
    ];
    expect(await runVerify(args, output), out).toBe(0);
    expect(check(oldBundle, pinned).valid).toBe(true); // old bundles verify after rotation

    // K2 leaks: rotate to K3 (signed by K2), then K3 revokes K2 at the current log size.
    service.admin.rotateOperatorKey(null, crypto.randomUUID());
    expect(() =>
      service.admin.revokeOperatorKey(null, crypto.randomUUID(), service.admin.operatorKeys().currentKey()),
    ).toThrow(/rotate away/);
    const revocation = service.admin.revokeOperatorKey(null, crypto.randomUUID(), rotation.newKey);
    await restart();
    const revoked = resolveKeyChain(pinned, (await service.api("GET", "/v1/operator-keys")).json);
    expect(revoked.revoked.get(rotation.newKey)).toBe(revocation.revokedAtLogSize);

    // The genuine K2 manifest: refused without a receipt, accepted with the receipt of its registration.
    const k2Manifest = k2Bundle.manifest as never;
    expect(checkManifestKey(k2Manifest, revoked)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/revoked/),
    });
    const { log } = service.server.ctx.audit;
    const registered = log
      .findEntries({ limit: 1000 })
      .find((entry) => JSON.parse(entry.entry).details?.manifestHash === manifestHash(k2Manifest));
    if (registered === undefined) throw new Error("registration not logged");
    const receipt = log.receipt(registered.index);
    expect(checkManifestKey(k2Manifest, revoked, { receipt, logKey: log.logKey })).toEqual({
      ok: true,
      key: rotation.newKey,
    });
    writeFileSync(chainFile, JSON.stringify((await service.api("GET", "/v1/operator-keys")).json));
    const receiptFile = path.join(dataDir, "..", "receipt.json");
    writeFileSync(receiptFile, JSON.stringify(receipt));
    out = "";
    expect(
      await runVerify([...args, "--manifest-receipt", receiptFile, "--log-key", log.logKey], output),
      out,
    ).toBe(0);
    out = "";
    expect(await runVerify(args, output)).toBe(1);
    expect(out).toMatch(/INVALID .*revoked.*\[check: key-chain\]/);

    // A manifest forged with the leaked K2 after the revocation has no receipt that names it in time.
    const m = k2Bundle.manifest as unknown as DatasetManifest;
    const forged = signManifest(
      buildManifest({ ...m, epoch: 9, root: "7", previousManifestHash: manifestHash(m) }),
      k2,
    );
    expect(checkManifestKey(forged, revoked, { receipt, logKey: log.logKey })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/does not name this manifest/),
    });
    const later = log.receipt(log.size() - 1);
    expect(checkManifestKey(forged, revoked, { receipt: later, logKey: log.logKey }).ok).toBe(false);

    // The audit log rotates its key: a receipt fetched now is signed by the new log key. `--log-key FIRST`
    // follows the rotations GET /v1/transparency/log-keys serves; the first key alone does not reach it.
    const firstLogKey = log.logKey;
    const ops = await token(service, await addPartner(service, "ops-r", ["admin"]));
    expect((await service.api("POST", "/v1/admin/keys/rotate-log", { token: ops })).status).toBe(200);
    writeFileSync(receiptFile, JSON.stringify(log.receipt(registered.index)));
    const logKeys = await service.api("GET", "/v1/transparency/log-keys");
    expect(logKeys.json).toMatchObject({ firstLogKey, rotations: [{ oldLogKey: firstLogKey }] });
    const logChainFile = path.join(dataDir, "..", "log-keys.json");
    writeFileSync(logChainFile, logKeys.text);
    const pinnedLog = [...args, "--manifest-receipt", receiptFile, "--log-key", firstLogKey];
    out = "";
    expect(await runVerify([...pinnedLog, "--log-key-chain", logChainFile], output), out).toBe(0);
    out = "";
    expect(await runVerify(pinnedLog, output)).toBe(1);
    expect(out).toMatch(
      /INVALID .*receipt's tree head is signed by another log key .*GET \/v1\/transparency\/log-keys.*\[check: key-chain\]/,
    );
  });
});

describe("storage, token and log keys rotating under a running service", () => {
  it("keeps answering, old bundles verify after, and a retired circuit's dataset is refused", async () => {
    const { ctx } = service.server;
    const cipher = ctx.datasets.storageCipher;
    await addDataset(service, "ds-k", ROWS_A);
    // A dataset committed (by this operator) when the service served another circuit.
    const retired = new DatasetStore({
      db: ctx.db,
      cipher,
      operatorSecretKey: loadServiceKey(ctx.db, cipher, "operator"),
      shape: ctx.circuit.shape,
      circuitId: "aggregate-retired-circuit",
    });
    await retired.register({ datasetId: "ds-old", schema: SERVICE_SCHEMA, rows: ROWS_A });
    const bob = await addPartner(service, "bob", ["datasets:read", "queries:submit"], {
      datasets: ["ds-k", "ds-old"],
      fields: ["country"],
      aggregates: ["count"],
      minGroupSize: 1,
    });
    const adminToken = await token(service, await addPartner(service, "ops-k", ["admin"]));
    const pinned = ctx.operatorKey;
    const before = await bundle(bob, "ds-k");
    for (const key of ["rotate", "rotate-token", "rotate-log"]) {
      const rotated = await service.api("POST", `/v1/admin/keys/${key}`, { token: adminToken });
      expect(rotated.status, rotated.text).toBe(200);
    }
    const after = await bundle(bob, "ds-k"); // no restart: answered under the new keys
    await restart();
    expect(check(before, pinned).valid).toBe(true);
    expect(check(after, pinned).valid).toBe(true);
    const refused = await service.api("POST", "/v1/queries", {
      token: await token(service, bob),
      body: { datasetId: "ds-old", query: FR_COUNT, nonce: nonce() },
    });
    expect(refused.status).toBe(409);
    expect(refused.json).toMatchObject({
      error: "circuit_retired",
      message: expect.stringMatching(/ds-old is committed for a circuit this service no longer serves/),
    });
  });
});
