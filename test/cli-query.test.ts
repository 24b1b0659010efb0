/**
 * `zktally query`, the partner's client (src/cli/query-command.ts), in process against a real service on the
 * test circuit: it gets a token, generates its own nonce, submits, follows progress (plain lines: not a
 * terminal; a bar redrawn in place on one), saves the bundle and verifies it with the keys of GET /v1/circuits
 * (exit 0, VALID, the nonce it sent; one JSON line with --json); the development keys without --allow-insecure-keys exit 4; a wrong secret exits 2 naming the
 * service's answer. The client fetches a new token when the old one is about to expire.
 */
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomNonce, ServiceClient } from "../src/cli/query-client.ts";
import { runCli } from "../src/cli/run.ts";
import { FIELD_ORDER } from "../src/core/field.ts";
import { captureCliOutput } from "./helpers/cli-output.ts";
import {
  addDataset,
  addPartner,
  FR_COUNT,
  ROWS_A,
  startTestService,
  type TestPartner,
  type TestService,
  tempDir,
} from "./helpers/service.ts";

const captured = captureCliOutput();
const outDir = tempDir("cli-query");
let service: TestService;
let partner: TestPartner;

beforeAll(async () => {
  service = await startTestService();
  await addDataset(service, "ds-a", ROWS_A);
  partner = await addPartner(service, "alice", ["datasets:read", "queries:submit"], {
    datasets: ["ds-a"],
    fields: ["country"],
    minGroupSize: 2,
  });
});
afterAll(async () => {
  await service.close();
  rmSync(outDir, { recursive: true, force: true });
});

async function query(...extra: string[]): Promise<{ code: number; text: string }> {
  captured.clear();
  const code = await runCli([
    "query",
    "--url",
    service.url,
    "--client-id",
    partner.clientId,
    "--dataset",
    "ds-a",
    "--query",
    JSON.stringify(FR_COUNT),
    "--operator-key",
    service.server.ctx.operatorKey,
    "--poll-ms",
    "50",
    ...extra,
  ]);
  return { code, text: captured.text() };
}

describe("zktally query", () => {
  it("submits, follows progress, saves and verifies the bundle (development keys allowed explicitly)", async () => {
    const out = path.join(outDir, "count.json");
    const { code, text } = await query(
      "--client-secret",
      partner.clientSecret,
      "--out",
      out,
      "--allow-insecure-keys",
    );
    expect(code, text).toBe(0);
    expect(text).toMatch(/VALID {2}.*country/);
    const nonce = /nonce ([0-9]+)\)/.exec(text)?.[1];
    expect(text).toContain(`  nonce      ${nonce}`);
    expect(JSON.parse(readFileSync(out, "utf8")).nonce).toBe(nonce);
    expect(text).toMatch(/(queued|proving|done)[^\n]*%/); // progress lines (stderr is not a terminal here)
  });

  it("--json prints the result as one JSON line; on a terminal the progress is a bar redrawn in place", async () => {
    const stderr = Object.getOwnPropertyDescriptor(process.stderr, "isTTY");
    Object.defineProperty(process.stderr, "isTTY", { value: true, configurable: true });
    let run: { code: number; text: string };
    try {
      run = await query(
        "--client-secret",
        partner.clientSecret,
        "--out",
        path.join(outDir, "tty.json"),
        "--allow-insecure-keys",
        "--json",
      );
    } finally {
      if (stderr === undefined) delete (process.stderr as { isTTY?: boolean }).isTTY;
      else Object.defineProperty(process.stderr, "isTTY", stderr);
    }
    expect(run.code, run.text).toBe(0);
    const redraw = "\r\u001b[2K"; // carriage return, erase the line
    expect(run.text).toContain(`${redraw}[`);
    expect(run.text).toMatch(/\[[#-]{24}\] (queued|proving|done)[^\n\r]*%/);
    const line = run.text.split("\n").find((text) => text.startsWith("{")) as string;
    expect(JSON.parse(line)).toMatchObject({ valid: true });
    expect(run.text).not.toContain("bundle saved to");
  });

  it("refuses development keys without --allow-insecure-keys (exit 4); a wrong secret exits 2", async () => {
    const refused = await query(
      "--client-secret",
      partner.clientSecret,
      "--out",
      path.join(outDir, "r.json"),
    );
    expect(refused.code).toBe(4);
    expect(refused.text).toContain("REFUSED");
    const wrong = await query("--client-secret", "zks_wrong");
    expect(wrong.code).toBe(2);
    expect(wrong.text).toMatch(/zktally query: POST \/oauth\/token: 401 invalid_client/);
  });

  it("refreshes the token before it expires; nonces are canonical and below r", async () => {
    let clock = Date.now();
    const client = new ServiceClient(service.url, partner, () => clock);
    await client.getJson("/v1/datasets");
    await client.getJson("/v1/datasets");
    expect(client.tokensIssued).toBe(1);
    clock += 300_000; // the default token lifetime
    await client.getJson("/v1/datasets");
    expect(client.tokensIssued).toBe(2);
    for (let i = 0; i < 20; i++) {
      const nonce = randomNonce();
      expect(nonce).toMatch(/^(0|[1-9][0-9]*)$/);
      expect(BigInt(nonce) < FIELD_ORDER).toBe(true);
    }
  });
});
