/**
 * @module test/helpers/transparency-stub
 *
 * For monitor tests: the public transparency routes (service/transparency.ts) served over real HTTP on
 * loopback for whatever `AuditLog` the test swaps in (honest, forged, rotated), and an in-memory output for
 * `zktally audit monitor`.
 */
import type { AddressInfo } from "node:net";
import express from "express";
import { afterAll, beforeAll } from "vitest";
import type { AuditLog } from "../../src/audit/log.ts";
import { runAuditMonitor } from "../../src/cli/commands/audit-monitor.ts";
import type { ServiceContext } from "../../src/service/context.ts";
import { transparencyRouter } from "../../src/service/transparency.ts";

export interface TransparencyStub {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves the transparency routes of `current()` (read on every request). */
export async function startTransparencyStub(current: () => AuditLog): Promise<TransparencyStub> {
  const app = express();
  const ctx = {
    get audit() {
      return { log: current(), recordRefusal: () => {} };
    },
    partners: { get: () => undefined },
    jobs: { bundleForPartner: () => undefined },
  } as unknown as ServiceContext;
  app.use(transparencyRouter(ctx));
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The `n`-th filler entry of a test log: an accepted query submission by partner `p`. */
export function queryEvent(n: number) {
  return { partner: "p", action: "query.submit", decision: "accepted" as const, requestId: `r${n}` };
}

/** An output that collects what a CLI command writes (stdout and stderr together). */
export function monitorOutput() {
  let text = "";
  const append = (chunk: string) => {
    text += chunk;
  };
  return { output: { out: append, err: append }, text: () => text };
}

/** Registers beforeAll/afterAll hooks serving `current()` for the enclosing describe; `url()` once started. */
export function transparencyStubDuringTests(current: () => AuditLog): { url(): string } {
  let stub: TransparencyStub | undefined;
  beforeAll(async () => {
    stub = await startTransparencyStub(current);
  });
  afterAll(() => stub?.close());
  return {
    url: () => {
      if (stub === undefined) throw new Error("the transparency stub is not started yet");
      return stub.url;
    },
  };
}

/** Runs `zktally audit monitor URL ...args` in process; the exit code and everything it wrote. */
export async function runMonitor(url: string, args: string[]): Promise<{ code: number; text: string }> {
  const run = monitorOutput();
  const code = await runAuditMonitor([url, ...args], run.output);
  return { code, text: run.text() };
}
