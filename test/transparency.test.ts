/**
 * The public transparency log over real HTTP (issue 13, point 5): unauthenticated entries, tree heads,
 * consistency proofs and a page list admitted queries (partner, dataset and epoch, statement in words,
 * time, outcome) with answers withheld unless the partner's policy publishes them; nothing private appears
 * (records, salts, client secrets, tokens). `zktally audit monitor URL` follows the log and reports a
 * rewritten, truncated or forked history after it saw a head (forged logs signed with the same key).
 */
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditLog } from "../src/audit/log.ts";
import { runAuditMonitor } from "../src/cli/commands/audit-monitor.ts";
import {
  addDataset,
  addPartner,
  FR_COUNT,
  nonce,
  ROWS_A,
  startTestService,
  type TestPartner,
  type TestService,
  tempDir,
  token,
  waitForJob,
} from "./helpers/service.ts";
import { monitorOutput, runMonitor, transparencyStubDuringTests } from "./helpers/transparency-stub.ts";

let service: TestService;
let alice: TestPartner;
let bob: TestPartner;
const tokens: string[] = [];

async function ask(partner: TestPartner, query: unknown) {
  const accessToken = await token(service, partner);
  tokens.push(accessToken);
  const submitted = await service.api("POST", "/v1/queries", {
    token: accessToken,
    body: { datasetId: "ds-t", query, nonce: nonce() },
  });
  expect(submitted.status, submitted.text).toBe(202);
  expect((await waitForJob(service, accessToken, submitted.json.jobId)).state).toBe("done");
}

beforeAll(async () => {
  service = await startTestService();
  await addDataset(service, "ds-t", ROWS_A);
  const policy = {
    datasets: ["ds-t"],
    fields: ["country", "bot", "edits"],
    aggregates: ["count"],
    minGroupSize: 1,
    budget: { queries: 20, periodSeconds: 3600 },
  };
  alice = await addPartner(service, "alice", ["datasets:read", "queries:submit"], policy);
  bob = await addPartner(service, "bob", ["datasets:read", "queries:submit"], {
    ...policy,
    publicAnswers: true,
  });
  await ask(alice, FR_COUNT);
  await ask(bob, { predicate: [{ field: "bot", op: "eq", value: true }], aggregate: { kind: "count" } });
});

afterAll(async () => {
  await service?.close();
});

describe("public transparency log", () => {
  it("lists admitted queries in words without a token; answers only where the policy publishes them", async () => {
    const listed = await service.api("GET", "/v1/transparency/entries");
    expect(listed.status, listed.text).toBe(200);
    const views = listed.json.entries.map((e: { view?: unknown }) => e.view).filter(Boolean);
    expect(views).toContainEqual(
      expect.objectContaining({
        partner: "alice",
        datasetId: "ds-t",
        epoch: 1,
        statement: "count of records where country = FR",
        outcome: "admitted",
      }),
    );
    const answered = views.filter((v: { outcome: string }) => v.outcome === "answered");
    expect(answered.find((v: { partner: string }) => v.partner === "alice").answer).toBeUndefined();
    expect(answered.find((v: { partner: string }) => v.partner === "bob").answer).toBe("1");
    const page = await service.api("GET", "/transparency");
    expect(page.status).toBe(200);
    expect(page.text).toContain("count of records where country = FR");
    expect(page.text).toContain("withheld");
    const head = await service.api("GET", "/v1/transparency/tree-head");
    expect(head.json.treeHead.treeSize).toBe(listed.json.treeHead.treeSize);
    const proof = await service.api(
      "GET",
      `/v1/transparency/consistency?from=2&to=${head.json.treeHead.treeSize}`,
    );
    expect(proof.status).toBe(200);
  });

  it("holds nothing private: no record value, salt, client secret or token", async () => {
    const texts = [
      (await service.api("GET", "/v1/transparency/entries?limit=1000")).text,
      (await service.api("GET", "/transparency")).text,
    ].join("\n");
    const alone = (value: string) => new RegExp(`(?<![0-9A-Za-z])${value}(?![0-9A-Za-z])`);
    for (const row of ROWS_A) {
      for (const value of [row.userId, row.edits]) expect(texts).not.toMatch(alone(String(value)));
    }
    const committed = await service.server.ctx.datasets.loadCommitted("ds-t", 1);
    for (const salt of committed.commitment.slots.salts) expect(texts).not.toContain(salt.toString());
    for (const secret of [alice.clientSecret, bob.clientSecret, ...tokens])
      expect(texts).not.toContain(secret);
    for (const token of tokens) expect(texts).not.toContain(token.split(".")[2]);
  });

  it("zktally audit monitor follows the real log as it grows", async () => {
    const state = path.join(tempDir("monitor"), "state.json");
    const first = monitorOutput();
    expect(await runAuditMonitor([service.url, "--state", state], first.output)).toBe(0);
    expect(first.text()).toMatch(/^warning: trusting the log key/);
    expect(first.text()).toContain("OK  ");
    await ask(alice, FR_COUNT);
    const second = monitorOutput();
    expect(await runAuditMonitor([service.url, "--state", state], second.output)).toBe(0);
    expect(second.text()).toMatch(/OK {2}\d+ entries, root [0-9a-f]{64} \([1-9]\d* new/);
  });
});

describe("monitor against forged histories signed with the log key", () => {
  const signer = { secretKey: new Uint8Array(32).fill(7) };
  const event = (n: number, variant = "") => ({
    partner: "p",
    action: "query.submit",
    decision: "accepted" as const,
    requestId: `r${n}${variant}`,
  });
  /** A log with `count` entries; entry `changed` (if any) differs from the honest one. */
  function forgedLog(count: number, changed?: number) {
    const db = new Database(":memory:");
    const log = new AuditLog(db, signer, { now: () => 1_700_000_000_000 });
    for (let n = 0; n < count; n++) log.append(event(n, n === changed ? "x" : ""));
    return log;
  }
  let current: AuditLog = forgedLog(5);
  const stub = transparencyStubDuringTests(() => current);

  const monitor = (state: string) => runMonitor(stub.url(), ["--state", state, "--log-key", current.logKey]);

  it("reports truncation, a fork and a rewrite after it saw a head, and keeps the good head", async () => {
    const state = path.join(tempDir("forged"), "state.json");
    current = forgedLog(5);
    expect((await monitor(state)).code).toBe(0);

    current = forgedLog(3); // the same first 3 entries, 2 dropped
    expect(await monitor(state)).toMatchObject({
      code: 1,
      text: expect.stringMatching(/^TRUNCATED {2}the log shrank from 5/),
    });

    current = forgedLog(5, 2); // same size, entry 2 rewritten: another root for size 5
    expect(await monitor(state)).toMatchObject({
      code: 1,
      text: expect.stringMatching(/^FORKED {2}two different signed roots for tree size 5/),
    });

    current = forgedLog(8, 1); // grown, but entry 1 rewritten: not an extension of the seen tree
    expect(await monitor(state)).toMatchObject({
      code: 1,
      text: expect.stringMatching(/^REWRITTEN {2}the tree of 8 entries does not extend/),
    });

    current = forgedLog(8); // the honest extension is still accepted: the state kept the good head
    expect(await monitor(state)).toMatchObject({ code: 0, text: expect.stringContaining("3 new") });
  });

  it("--json prints the report as one JSON line, the problem named (exit 1 on a fork)", async () => {
    const state = path.join(tempDir("forged-json"), "state.json");
    const json = async () => {
      const run = await runMonitor(stub.url(), ["--state", state, "--log-key", current.logKey, "--json"]);
      return { code: run.code, report: JSON.parse(run.text) };
    };
    current = forgedLog(5);
    expect(await json()).toMatchObject({ code: 0, report: { ok: true, treeSize: 5, newEntries: 5 } });
    current = forgedLog(5, 2);
    expect(await json()).toMatchObject({ code: 1, report: { ok: false, problem: "forked" } });
  });
});
