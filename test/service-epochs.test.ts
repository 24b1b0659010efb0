/**
 * Epochs with a verifiable history over real HTTP (issue 13, point 1): each new epoch's manifest links the
 * previous one's hash; epochs only go forward and a second manifest for an existing epoch (a fork) is
 * refused by the service and recorded in the audit log; the history endpoint serves the chain, which the SDK
 * verifies and places bundles on; older epochs stay answerable within the retention setting and are
 * refused (epoch_retired) after it, while their bundles keep verifying. The SDK refuses a forked history.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runVerify } from "../src/cli/verify-command.ts";
import { makeLayout } from "../src/dataset/layout.ts";
import { buildManifest } from "../src/dataset/manifest.ts";
import { generateOperatorKey, signManifest } from "../src/dataset/manifest-sign.ts";
import { parseSchema } from "../src/dataset/schema.ts";
import { checkAgainstHistory, verifyHistory } from "../src/verifier/history.ts";
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
  type TestService,
  tempDir,
  token,
  waitForJob,
} from "./helpers/service.ts";

let service: TestService;
let adminToken: string;
let aliceToken: string;
let keys: Record<string, unknown>;
const keysManifest = JSON.parse(readFileSync(path.join(TEST_KEYS_DIR, "manifest.json"), "utf8"));

async function bundleFor(body: Record<string, unknown>) {
  const submitted = await service.api("POST", "/v1/queries", { token: aliceToken, body });
  expect(submitted.status, submitted.text).toBe(202);
  const job = await waitForJob(service, aliceToken, submitted.json.jobId);
  expect(job.state, JSON.stringify(job)).toBe("done");
  return (await service.api("GET", `/v1/jobs/${submitted.json.jobId}/bundle`, { token: aliceToken })).json;
}

const check = (bundle: unknown) =>
  verify(bundle, {
    keys,
    keysManifest,
    operatorKey: service.server.ctx.operatorKey,
    allowInsecureKeys: true,
  });

beforeAll(async () => {
  service = await startTestService({ config: { retainEpochs: 2 } });
  await addDataset(service, "ds-e", ROWS_A);
  const admin = await addPartner(service, "ops", ["admin"]);
  const alice = await addPartner(service, "alice", ["datasets:read", "queries:submit"], {
    datasets: ["ds-e"],
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

describe("epoch chain over HTTP", () => {
  let epoch1Bundle: unknown;

  it("a new epoch links the previous manifest's hash; the history verifies and places bundles", async () => {
    epoch1Bundle = await bundleFor({ datasetId: "ds-e", query: FR_COUNT, nonce: nonce() });
    const added = await service.api("POST", "/v1/admin/datasets", {
      token: adminToken,
      body: { datasetId: "ds-e", schema: SERVICE_SCHEMA, rows: ROWS_A.slice(0, 5) },
    });
    expect(added.status, added.text).toBe(201);
    expect(added.json.epoch).toBe(2);
    const history = await service.api("GET", "/v1/datasets/ds-e/history", { token: aliceToken });
    expect(history.status, history.text).toBe(200);
    const [first, second] = history.json.manifests;
    expect(first.previousManifestHash).toBeUndefined();
    expect(second.previousManifestHash).toBe(service.server.ctx.datasets.require("ds-e", 1).manifestHash);

    const verified = verifyHistory(history.json, { operatorKeys: [history.json.operatorKey] });
    expect(verified.valid, JSON.stringify(verified)).toBe(true);
    if (!verified.valid) return;
    expect(verified.head.epoch).toBe(2);
    const placed = checkAgainstHistory((epoch1Bundle as { manifest: unknown }).manifest, verified);
    expect(placed).toEqual({ valid: true, epoch: 1, laterEpochs: 1, headEpoch: 2 });
    const result = check(epoch1Bundle);
    expect(result.valid && result.epoch).toBe(1);

    // zktally verify --history: VALID with the supersession noted; a forked history is INVALID (exit 1).
    const dir = tempDir("history");
    const files = {
      bundle: path.join(dir, "b.json"),
      history: path.join(dir, "h.json"),
      fork: path.join(dir, "f.json"),
    };
    writeFileSync(files.bundle, JSON.stringify(epoch1Bundle));
    writeFileSync(files.history, history.text);
    const forked = { ...first, root: "12345" };
    writeFileSync(files.fork, JSON.stringify({ manifests: [forked, second] }));
    const args = (file: string) => [
      files.bundle,
      "--keys",
      TEST_KEYS_DIR,
      "--operator-key",
      history.json.operatorKey,
      "--history",
      file,
      "--allow-insecure-keys",
    ];
    let out = "";
    const append = (text: string) => {
      out += text;
    };
    const output = { out: append, err: append };
    expect(await runVerify(args(files.history), output)).toBe(0);
    expect(out).toContain("epoch 1 is superseded: 1 later epoch(s), latest 2");
    out = "";
    expect(await runVerify(args(files.fork), output)).toBe(1);
    expect(out).toMatch(/INVALID .*\[check: history-signature\]/);
  });

  it("refuses a second manifest for an existing epoch (fork) and an older epoch, and audits the fork", async () => {
    const fork = await service.api("POST", "/v1/admin/datasets", {
      token: adminToken,
      body: { datasetId: "ds-e", epoch: 1, schema: SERVICE_SCHEMA, rows: ROWS_A.slice(1) },
    });
    expect(fork.status, fork.text).toBe(409);
    expect(fork.json.error).toBe("epoch_fork");
    const entries = service.server.ctx.audit.log
      .findEntries({ limit: 1000 })
      .map((entry) => JSON.parse(entry.entry));
    expect(
      entries.some(
        (e) =>
          e.action === "admin.dataset.register" &&
          e.decision === "refused" &&
          e.details?.code === "epoch_fork",
      ),
    ).toBe(true);
    expect(service.server.ctx.datasets.history("ds-e")).toHaveLength(2);
  });

  it("answers an older retained epoch by name, and refuses it once retention shreds it", async () => {
    const older = await bundleFor({ datasetId: "ds-e", query: FR_COUNT, nonce: nonce(), epoch: 1 });
    expect(check(older).valid).toBe(true);
    expect(older.manifest.epoch).toBe(1);
    const latest = await bundleFor({ datasetId: "ds-e", query: FR_COUNT, nonce: nonce() });
    expect(latest.manifest.epoch).toBe(2);

    await addDataset(service, "ds-e", ROWS_A.slice(0, 4)); // epoch 3: retention 2 shreds epoch 1
    expect(service.server.ctx.datasets.get("ds-e", 1)?.shreddedAt).not.toBeNull();
    const refused = await service.api("POST", "/v1/queries", {
      token: aliceToken,
      body: { datasetId: "ds-e", query: FR_COUNT, nonce: nonce(), epoch: 1 },
    });
    expect(refused.status, refused.text).toBe(409);
    expect(refused.json.error).toBe("epoch_retired");
    // Its bundles hold no records: they still verify, and the chain still verifies through it.
    expect(check(epoch1Bundle).valid).toBe(true);
    const history = await service.api("GET", "/v1/datasets/ds-e/history", { token: aliceToken });
    expect(verifyHistory(history.json, { operatorKeys: [history.json.operatorKey] }).valid).toBe(true);
  });
});

describe("SDK history checks", () => {
  const schema = parseSchema(SERVICE_SCHEMA);
  const layout = makeLayout({ capacity: 8, fields: 4, width: 16, leafRecords: 2, arity: 2 });
  const operator = generateOperatorKey();
  const sign = (epoch: number, root: string, previousManifestHash?: string) =>
    signManifest(
      buildManifest({
        datasetId: "ds-h",
        epoch,
        schema,
        recordCount: 3,
        layout,
        root,
        circuits: ["c"],
        createdAt: "2026-01-01T00:00:00.000Z",
        ...(previousManifestHash === undefined ? {} : { previousManifestHash }),
      }),
      operator.secretKey,
    );
  const options = { operatorKeys: [operator.publicKey] };

  it("refuses a fork, a broken link, an unpinned key; a forked bundle manifest is named", () => {
    const one = sign(1, "11");
    const ok = verifyHistory([one], options);
    if (!ok.valid) throw new Error(ok.reason);
    const two = sign(2, "12", ok.head.manifestHash);
    const oneForked = sign(1, "99");
    expect(verifyHistory([two, one], options).valid).toBe(true);
    expect(verifyHistory([one, oneForked, two], options)).toMatchObject({ valid: false, check: "fork" });
    expect(verifyHistory([oneForked, two], options)).toMatchObject({ valid: false, check: "link" });
    expect(verifyHistory([one, sign(2, "12")], options)).toMatchObject({ valid: false, check: "link" });
    expect(verifyHistory([one], { operatorKeys: [generateOperatorKey().publicKey] })).toMatchObject({
      valid: false,
      check: "signature",
    });
    const chain = verifyHistory([one, two], options);
    if (!chain.valid) throw new Error(chain.reason);
    expect(checkAgainstHistory(oneForked, chain)).toMatchObject({ valid: false, check: "fork" });
    expect(checkAgainstHistory(sign(7, "13"), chain)).toMatchObject({ valid: false, check: "unknown" });
  });
});
