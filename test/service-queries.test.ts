/**
 * Service integration over real HTTP with real proofs (TEST_SHAPE): token -> submit -> job status -> bundle
 * verified offline with the partner SDK; answers below the minimum group size come back as a *proven*
 * suppression; client-supplied policy/identity fields are ignored; other partners' jobs, bundles and receipts
 * are 404; receipts verify against signed tree heads; and no response or log line carries a record value,
 * salt, dataset secret, client secret or token.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEntry } from "../src/audit/types.ts";
import { verifyHeadConsistency, verifyReceipt } from "../src/audit/verify.ts";
import { keyFileOf } from "../src/service/config.ts";
import { EpochKeys } from "../src/service/epoch-keys.ts";
import { openText } from "../src/service/sealed.ts";
import { KeyRing } from "../src/storage/keyring.ts";
import { canonicalJson } from "../src/util/canonical-json.ts";
import { InsecureKeysError } from "../src/verifier/errors.ts";
import { verify } from "../src/verifier/verify-bundle.ts";
import { TEST_KEYS_DIR } from "./helpers/keys.ts";
import {
  addDataset,
  addPartner,
  FR_COUNT,
  nonce,
  ROWS_A,
  ROWS_B,
  startTestService,
  type TestPartner,
  type TestService,
  token,
  waitForJob,
} from "./helpers/service.ts";

let service: TestService;
let alice: TestPartner;
let bob: TestPartner;
let aliceToken: string;
let bobToken: string;
let keys: Record<string, unknown>;
const keysManifest = JSON.parse(readFileSync(path.join(TEST_KEYS_DIR, "manifest.json"), "utf8"));

async function submit(accessToken: string, body: Record<string, unknown>) {
  const response = await service.api("POST", "/v1/queries", { token: accessToken, body });
  expect(response.status, response.text).toBe(202);
  return response;
}

async function bundleOf(accessToken: string, jobId: string) {
  const job = await waitForJob(service, accessToken, jobId);
  expect(job.state, JSON.stringify(job)).toBe("done");
  const response = await service.api("GET", `/v1/jobs/${jobId}/bundle`, { token: accessToken });
  expect(response.status).toBe(200);
  return response.json;
}

const check = (bundle: unknown) =>
  verify(bundle, {
    keys,
    keysManifest,
    operatorKey: service.server.ctx.operatorKey,
    allowInsecureKeys: true,
  });

beforeAll(async () => {
  service = await startTestService();
  await addDataset(service, "ds-a", ROWS_A);
  await addDataset(service, "ds-b", ROWS_B);
  const policy = {
    datasets: ["ds-a", "ds-b"],
    fields: ["country", "bot", "edits"],
    aggregates: ["count", "sum", "threshold"],
    minGroupSize: 2,
    budget: { queries: 20, periodSeconds: 3600 },
  };
  alice = await addPartner(service, "alice", ["datasets:read", "queries:submit", "audit:read"], policy);
  bob = await addPartner(service, "bob", ["datasets:read", "queries:submit", "audit:read"], policy);
  aliceToken = await token(service, alice);
  bobToken = await token(service, bob);
  const circuits = await service.api("GET", "/v1/circuits", { token: aliceToken });
  keys = Object.fromEntries(
    circuits.json.circuits.map((c: { circuitId: string; vkey: unknown }) => [c.circuitId, c.vkey]),
  );
});

afterAll(async () => {
  await service?.close();
});

describe("query flow", () => {
  let firstJob: { jobId: string; requestId: string };

  it("token -> 202 with a job URL -> progress -> a bundle that verifies offline and binds the partner's nonce", async () => {
    const datasets = await service.api("GET", "/v1/datasets", { token: aliceToken });
    expect(datasets.json.datasets.map((d: { datasetId: string }) => d.datasetId)).toEqual(["ds-a", "ds-b"]);
    expect(datasets.json.operatorKey).toBe(service.server.ctx.operatorKey);

    const myNonce = nonce();
    const submitted = await submit(aliceToken, { datasetId: "ds-a", query: FR_COUNT, nonce: myNonce });
    expect(submitted.headers.get("location")).toBe(submitted.json.statusUrl);
    expect(submitted.headers.get("x-request-id")).toBe(submitted.json.requestId);
    firstJob = submitted.json;

    const status = await service.api("GET", submitted.json.statusUrl, { token: aliceToken });
    expect(status.status).toBe(200);
    expect(["queued", "running", "done"]).toContain(status.json.state);
    expect(status.json.progress.percent).toBeGreaterThanOrEqual(0);

    const bundle = await bundleOf(aliceToken, submitted.json.jobId);
    const result = check(bundle);
    expect(result.valid, JSON.stringify(result)).toBe(true);
    // The test service runs in development mode on development keys: a partner's verifier refuses them.
    const operatorKey = service.server.ctx.operatorKey;
    expect(() => verify(bundle, { keys, keysManifest, operatorKey })).toThrow(InsecureKeysError);
    expect(bundle.answer).toEqual({ kind: "count", suppressed: false, value: "4" });
    expect(bundle.nonce).toBe(myNonce);
    expect(bundle.publicSignals[5]).toBe(myNonce);
    expect(bundle.minGroupSize).toBe(2);
    // The nonce is bound: the same proof presented for another nonce does not verify.
    const replayed = check({ ...bundle, nonce: nonce() });
    expect(replayed.valid).toBe(false);

    const done = await service.api("GET", submitted.json.statusUrl, { token: aliceToken });
    expect(done.json).toMatchObject({
      state: "done",
      progress: { phase: "done", percent: 100 },
      attempts: 1,
    });
    expect(done.json.bundleUrl).toBe(`${submitted.json.statusUrl}/bundle`);
  });

  it("the downloaded bundle bytes are the canonical JSON whose SHA-256 the audit log and receipt carry", async () => {
    const download = await service.api("GET", `/v1/jobs/${firstJob.jobId}/bundle`, { token: aliceToken });
    expect(download.status).toBe(200);
    const bytes = new Uint8Array(await new Blob([download.text]).arrayBuffer());
    const receipts = await service.api("GET", `/v1/receipts/${firstJob.requestId}`, { token: aliceToken });
    const answered = receipts.json.receipts
      .map((receipt: { entry: AuditEntry }) => receipt.entry)
      .find((entry: AuditEntry) => entry.action === "query.answer" && entry.decision === "accepted");
    expect(answered?.details?.bundleHash).toMatch(/^[0-9a-f]{64}$/);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(answered.details.bundleHash);
    expect(download.text).toBe(canonicalJson(download.json));
  });

  it("answers below the minimum group size (and complements) come back as a proven suppression", async () => {
    // ds-a has 6 records, 1 bot: count(bot) = 1 < 2 and count(not bot) = 5 = 6 - 1 (complement < 2).
    const bots = await submit(aliceToken, {
      datasetId: "ds-a",
      query: { predicate: [{ field: "bot", op: "eq", value: true }], aggregate: { kind: "count" } },
      nonce: nonce(),
    });
    const humans = await submit(aliceToken, {
      datasetId: "ds-a",
      query: {
        predicate: [{ field: "bot", op: "eq", value: false }],
        aggregate: { kind: "sum", field: "edits" },
      },
      nonce: nonce(),
    });
    for (const submitted of [bots, humans]) {
      const bundle = await bundleOf(aliceToken, submitted.json.jobId);
      expect(bundle.answer.suppressed).toBe(true);
      expect(bundle.answer.value).toBeNull();
      expect(bundle.publicSignals.slice(0, 2)).toEqual(["1", "0"]);
      expect(bundle.statement).toContain("suppressed");
      const result = check(bundle);
      expect(result.valid, JSON.stringify(result)).toBe(true);
      // Claiming an unsuppressed answer instead does not verify.
      const forged = { ...bundle, answer: { ...bundle.answer, suppressed: false, value: "1" } };
      expect(check(forged).valid).toBe(false);
    }
  });

  it("membership under the default policy (g = 5): answered only when the policy says so, else proven suppressed or refused", async () => {
    // Its own dataset: the keys asked about appear in the bundles, and ds-a/ds-b values must never appear.
    await addDataset(service, "ds-m", [
      { userId: 301, country: "FR", edits: 1, bot: false },
      { userId: 302, country: "DE", edits: 2, bot: false },
      { userId: 303, country: "FR", edits: 3, bot: true },
    ]);
    const base = {
      datasets: ["ds-m"],
      fields: ["userId", "country"],
      aggregates: ["count", "membership"],
      budget: { queries: 20, periodSeconds: 3600 },
    };
    const scopes = ["datasets:read", "queries:submit", "queries:membership"];
    const answering = await addPartner(service, "mia", scopes, { ...base, membership: { suppress: false } });
    const suppressing = await addPartner(service, "max", scopes, base);
    const noMembership = await addPartner(service, "ned", scopes, { ...base, aggregates: ["count"] });
    const miaToken = await token(service, answering);
    const member = (key: number) => ({
      datasetId: "ds-m",
      query: {
        predicate: [{ field: "country", op: "eq", value: "FR" }],
        aggregate: { kind: "membership", key },
      },
      nonce: nonce(),
    });

    const present = await submit(miaToken, member(301)); // FR
    const absent = await submit(miaToken, member(302)); // exists, but DE
    const yes = await bundleOf(miaToken, present.json.jobId);
    const no = await bundleOf(miaToken, absent.json.jobId);
    expect(yes.answer).toEqual({ kind: "membership", suppressed: false, value: true });
    expect(no.answer).toEqual({ kind: "membership", suppressed: false, value: false });
    expect([yes.minGroupSize, no.minGroupSize]).toEqual([0, 0]); // the public g the verifier recomputes
    expect(yes.statement).toBe(
      "dataset ds-m epoch 1: a record with userId = 301 exists and matches country = FR",
    );
    expect(no.statement).toBe("dataset ds-m epoch 1: no record with userId = 302 matches country = FR");
    for (const bundle of [yes, no]) expect(check(bundle).valid).toBe(true);
    // The same proof claimed under the policy's g = 5 does not verify.
    expect(check({ ...yes, minGroupSize: 5 }).valid).toBe(false);

    const maxToken = await token(service, suppressing);
    const hidden = await bundleOf(maxToken, (await submit(maxToken, member(301))).json.jobId);
    expect(hidden.answer).toEqual({ kind: "membership", suppressed: true, value: null });
    expect(hidden.minGroupSize).toBe(5);
    expect(hidden.statement).toBe(
      "dataset ds-m epoch 1: answer suppressed by the minimum group size 5: whether userId 301 exists and matches country = FR",
    );
    expect(check(hidden).valid).toBe(true);

    const nedToken = await token(service, noMembership);
    const denied = await service.api("POST", "/v1/queries", { token: nedToken, body: member(301) });
    expect([denied.status, denied.json.error]).toEqual([403, "policy_denied"]);
    const narrowToken = await token(service, answering, "datasets:read queries:submit");
    const noScope = await service.api("POST", "/v1/queries", { token: narrowToken, body: member(301) });
    expect([noScope.status, noScope.json.error]).toEqual([403, "insufficient_scope"]);
    expect(noScope.json.message).toMatch(/queries:membership/);
    // Aggregates still work with the narrower token.
    await submit(narrowToken, { datasetId: "ds-m", query: FR_COUNT, nonce: nonce() });
  });

  // (epoch is part of the query API since issue 13: a named epoch must exist and be retained.)
  it("ignores client-supplied group size, budget, identity, role and state (mass assignment)", async () => {
    const before = (await service.api("GET", "/v1/budget", { token: aliceToken })).json;
    const submitted = await submit(aliceToken, {
      datasetId: "ds-b",
      query: {
        predicate: [{ field: "country", op: "in", value: ["DE", "US"] }],
        aggregate: { kind: "count" },
      },
      nonce: nonce(),
      minGroupSize: 0,
      budget: { queries: 1_000_000, periodSeconds: 1 },
      partner: "bob",
      partnerId: "bob",
      clientId: "bob",
      role: "admin",
      scope: "admin",
      scopes: ["admin"],
      state: "done",
      attempts: 99,
      answer: { kind: "count", suppressed: false, value: "999" },
    });
    const after = (await service.api("GET", "/v1/budget", { token: aliceToken })).json;
    expect(after.queries).toBe(before.queries);
    expect(after.used).toBe(before.used + 1);
    const bundle = await bundleOf(aliceToken, submitted.json.jobId);
    expect(bundle.minGroupSize).toBe(2);
    expect(bundle.manifest.epoch).toBe(1);
    expect(bundle.answer).toEqual({ kind: "count", suppressed: false, value: "3" });
    expect(check(bundle).valid).toBe(true);
    // Still alice's job only, and alice is still no admin.
    expect((await service.api("GET", submitted.json.statusUrl, { token: bobToken })).status).toBe(404);
    expect((await service.api("GET", "/v1/admin/partners", { token: aliceToken })).status).toBe(403);
  });

  it("another partner's job, bundle and receipts by id answer 404, exactly like unknown ids", async () => {
    const unknown = crypto.randomUUID();
    const probes = [
      [`/v1/jobs/${firstJob.jobId}`, `/v1/jobs/${unknown}`],
      [`/v1/jobs/${firstJob.jobId}/bundle`, `/v1/jobs/${unknown}/bundle`],
      [`/v1/receipts/${firstJob.requestId}`, `/v1/receipts/${unknown}`],
    ];
    for (const [theirs, missing] of probes) {
      const a = await service.api("GET", theirs as string, { token: bobToken });
      const b = await service.api("GET", missing as string, { token: bobToken });
      expect(a.status, theirs).toBe(404);
      expect(b.status).toBe(404);
      expect({ ...a.json, requestId: "" }).toEqual({ ...b.json, requestId: "" });
      expect(a.text).not.toContain(firstJob.jobId);
    }
    // The owner still sees them.
    expect((await service.api("GET", `/v1/jobs/${firstJob.jobId}`, { token: aliceToken })).status).toBe(200);
    const jobs = await service.api("GET", "/v1/jobs", { token: bobToken });
    expect(jobs.json.jobs).toEqual([]);
  });

  it("receipts prove the partner's entries are in the signed log; consistency proofs link tree heads", async () => {
    const listed = await service.api("GET", "/v1/receipts", { token: aliceToken });
    const mine = listed.json.entries.filter(
      (entry: { requestId: string }) => entry.requestId === firstJob.requestId,
    );
    expect(
      mine.map((entry: { action: string; decision: string }) => `${entry.action}:${entry.decision}`),
    ).toEqual(["query.submit:accepted", "query.answer:accepted"]);
    expect(listed.json.entries.every((entry: { index: number }) => Number.isSafeInteger(entry.index))).toBe(
      true,
    );

    const receipts = await service.api("GET", `/v1/receipts/${firstJob.requestId}`, { token: aliceToken });
    expect(receipts.status).toBe(200);
    const { logKey } = receipts.json;
    expect(logKey).toBe(service.server.ctx.audit.log.logKey);
    for (const receipt of receipts.json.receipts) {
      expect(verifyReceipt(receipt, logKey)).toEqual({ ok: true });
      expect(receipt.entry.partner).toBe("alice");
      expect(verifyReceipt({ ...receipt, entry: { ...receipt.entry, decision: "refused" } }, logKey).ok).toBe(
        false,
      );
    }
    const oldHead = receipts.json.receipts[0].treeHead;
    await submit(aliceToken, { datasetId: "ds-b", query: FR_COUNT, nonce: nonce() }); // grow the log
    const head = await service.api("GET", "/v1/audit/tree-head", { token: aliceToken });
    expect(head.json.treeHead.treeSize).toBeGreaterThan(oldHead.treeSize);
    const proof = await service.api(
      "GET",
      `/v1/audit/consistency?from=${oldHead.treeSize}&to=${head.json.treeHead.treeSize}`,
      {
        token: aliceToken,
      },
    );
    expect(proof.status).toBe(200);
    expect(verifyHeadConsistency(oldHead, proof.json.newHead, proof.json.proof, logKey)).toEqual({
      ok: true,
    });
  });

  it("no response or log line contains a record value, salt, dataset secret, client secret or token", async () => {
    // Let the last job finish so its log lines are included.
    const jobs = (await service.api("GET", "/v1/jobs", { token: aliceToken })).json.jobs;
    for (const job of jobs) await waitForJob(service, aliceToken, job.jobId);

    const forbidden: { what: string; pattern: RegExp }[] = [];
    const keyRing = await KeyRing.load(keyFileOf(service.server.ctx.config));
    for (const [id, rows] of [
      ["ds-a", ROWS_A],
      ["ds-b", ROWS_B],
    ] as const) {
      const committed = await service.server.ctx.datasets.loadCommitted(id, 1);
      for (const salt of committed.commitment.slots.salts) {
        forbidden.push({ what: `salt of ${id}`, pattern: new RegExp(salt.toString()) });
        forbidden.push({ what: `hex salt of ${id}`, pattern: new RegExp(salt.toString(16), "i") });
      }
      const row = service.server.ctx.db
        .prepare("SELECT secret_envelope FROM datasets WHERE dataset_id = ?")
        .get(id) as { secret_envelope: string };
      // The secret is sealed under the epoch's data key, which the KeyRing seals (service/epoch-keys.ts).
      const epochCipher = new EpochKeys(service.server.ctx.db, keyRing).cipherFor(id, 1);
      if (epochCipher === undefined) throw new Error(`no epoch key for ${id}`);
      const secret = Buffer.from(
        openText(epochCipher, row.secret_envelope, { datasetId: id, epoch: 1, purpose: "dataset-secret" }),
      );
      expect(secret.length).toBe(32);
      for (const encoding of ["hex", "base64", "base64url"] as const) {
        forbidden.push({
          what: `secret of ${id} (${encoding})`,
          pattern: new RegExp(escapeRegExp(secret.toString(encoding))),
        });
      }
      for (const record of rows) {
        for (const value of [record.userId, record.edits]) {
          forbidden.push({
            what: `record value ${value}`,
            pattern: new RegExp(`(?<![\\w.-])${value}(?![\\w.-])`),
          });
        }
      }
    }
    for (const partner of [alice, bob]) {
      forbidden.push({ what: "client secret", pattern: new RegExp(escapeRegExp(partner.clientSecret)) });
    }
    const responses = service.responses.join("\n");
    const logs = service.logs.text();
    expect(service.logs.lines.length).toBeGreaterThan(20);
    for (const { what, pattern } of forbidden) {
      expect(pattern.test(responses), `${what} in a response`).toBe(false);
      expect(pattern.test(logs), `${what} in the log`).toBe(false);
    }
    for (const accessToken of [aliceToken, bobToken]) expect(logs.includes(accessToken)).toBe(false);
    expect(logs).not.toMatch(/eyJ[\w-]+\.eyJ/); // no JWT at all in the log
    // No private structure in any response either.
    expect(responses).not.toMatch(
      /"(records|rows|salts|salt|witness|flags|leaves|siblings|slots|secret)"\s*:/,
    );
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
