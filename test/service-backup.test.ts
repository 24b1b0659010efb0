/**
 * Backup and restore (issue 13, point 4): `zktally serve admin backup --out FILE` takes an online backup
 * while the service runs (SQLite online backup: datasets, partners, jobs, bundles, the audit log; key file by
 * reference, never copied); `serve admin restore` into another directory gives a service that verifies its
 * audit log at boot, holds the backed-up head, and answers as before over real HTTP with the same partner
 * credentials, operator key and dataset history. A tampered backup is refused.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveCommand } from "../src/cli/commands/serve.ts";
import { keyFileOf } from "../src/service/config.ts";
import { captureCliOutput, serveFlags } from "./helpers/cli-output.ts";
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

const captured = captureCliOutput();
let service: TestService;
let alice: TestPartner;
const services: TestService[] = [];

async function answer(target: TestService): Promise<unknown> {
  const accessToken = await token(target, alice);
  const submitted = await target.api("POST", "/v1/queries", {
    token: accessToken,
    body: { datasetId: "ds-k", query: FR_COUNT, nonce: nonce() },
  });
  expect(submitted.status, submitted.text).toBe(202);
  const job = await waitForJob(target, accessToken, submitted.json.jobId);
  expect(job.state).toBe("done");
  return (await target.api("GET", `/v1/jobs/${job.jobId}/bundle`, { token: accessToken })).json.answer;
}

beforeAll(async () => {
  service = await startTestService();
  services.push(service);
  await addDataset(service, "ds-k", ROWS_A);
  await addDataset(service, "ds-k", ROWS_A.slice(1));
  alice = await addPartner(service, "alice", ["datasets:read", "queries:submit"], {
    datasets: ["ds-k"],
    fields: ["country"],
    aggregates: ["count"],
    minGroupSize: 1,
  });
});

afterAll(async () => {
  for (const each of services) await each.close().catch(() => {});
});

describe("backup and restore", () => {
  it("an online backup restores into another directory that verifies its log and answers as before", async () => {
    const before = await answer(service);
    const out = path.join(tempDir("backup"), "state.backup.json");
    // Online: the service keeps running (and answering) while the CLI takes the backup.
    const code = await serveCommand.run(["admin", "backup", "--out", out, ...serveFlags(service.dataDir)]);
    expect(code, captured.text()).toBe(0);
    const summary = JSON.parse(captured.text());
    captured.clear();
    expect(summary.keyFile).toBe(keyFileOf(service.server.ctx.config));
    const backupText = readFileSync(out, "utf8");
    const keyFile = JSON.parse(readFileSync(summary.keyFile, "utf8"));
    expect(keyFile.keys.length).toBeGreaterThan(0);
    for (const key of keyFile.keys) expect(backupText).not.toContain(key.key); // keys by reference

    // A tampered backup is refused before anything is written.
    const tampered = JSON.parse(backupText);
    tampered.database.base64 = `A${tampered.database.base64.slice(1)}`;
    const badFile = path.join(tempDir("backup"), "bad.json");
    writeFileSync(badFile, JSON.stringify(tampered));
    expect(
      await serveCommand.run(["admin", "restore", "--from", badFile, ...serveFlags(tempDir("bad"))]),
    ).not.toBe(0);
    captured.clear();

    const restoredDir = path.join(tempDir("restored"), "data");
    const restore = await serveCommand.run(["admin", "restore", "--from", out, ...serveFlags(restoredDir)]);
    expect(restore, captured.text()).toBe(0);
    const restored = JSON.parse(captured.text());
    captured.clear();
    expect(restored.auditLog).toBe("verified");
    expect(restored.treeHead.treeSize).toBeGreaterThanOrEqual(summary.treeSize);

    const again = await startTestService({ dataDir: restoredDir, config: { keyFile: summary.keyFile } });
    services.push(again);
    expect(again.admin.verifyAudit().ok).toBe(true);
    expect(again.server.ctx.operatorKey).toBe(service.server.ctx.operatorKey);
    expect(again.server.ctx.datasets.history("ds-k").map((d) => d.manifestHash)).toEqual(
      service.server.ctx.datasets.history("ds-k").map((d) => d.manifestHash),
    );
    expect(await answer(again)).toEqual(before);
  });
});
