/**
 * The one error model at the service's boundaries: typed errors map to statuses in one table
 * (service/http-errors.ts); anything else is a programming error, answered 500 with a generic body and one
 * internal log line, and in the job runner an internal failure (not retried, refunded, never filed as the
 * partner's `query_not_provable`). A malformed %-escape in a path is the client's error (400), not a 500.
 */
import { describe, expect, it } from "vitest";
import { httpAnswerOf, statusOf } from "../src/service/http-errors.ts";
import {
  AccessError,
  ConflictError,
  InputError,
  IntegrityError,
  LimitError,
  NotFoundError,
  ProverFailure,
  UnavailableError,
  ZktallyError,
} from "../src/util/errors.ts";
import {
  addDataset,
  addPartner,
  closedAfterAll,
  FR_COUNT,
  failingBackend,
  ledgerState,
  nonce,
  ROWS_A,
  startTestService,
  type TestService,
  token,
  waitForJob,
} from "./helpers/service.ts";

const services = closedAfterAll();

async function setup(options: Parameters<typeof startTestService>[0] = {}) {
  const service = await startTestService(options);
  services.push(service);
  await addDataset(service, "ds-a", ROWS_A);
  const alice = await addPartner(service, "alice", ["queries:submit", "audit:read"], {
    datasets: ["ds-a"],
    fields: ["country"],
    minGroupSize: 1,
  });
  return { service, accessToken: await token(service, alice) };
}

function errorLines(service: TestService): string[] {
  return service.logs.lines.filter((line) => JSON.parse(line).level === "error");
}

describe("error model", () => {
  it("every error is a ZktallyError with code, path, message and hint; kinds map to statuses", () => {
    const error = new InputError("invalid_query", "predicate[0].op: unknown operator", {
      path: "predicate[0].op",
      hint: "use one of eq, neq, lt, lte, gt, gte, between, in",
    });
    expect(error).toBeInstanceOf(ZktallyError);
    expect(error.name).toBe("InputError");
    expect(error.toJSON()).toEqual({
      code: "invalid_query",
      message: "predicate[0].op: unknown operator",
      path: "predicate[0].op",
      hint: "use one of eq, neq, lt, lte, gt, gte, between, in",
    });
    const cases: [ZktallyError, number][] = [
      [new InputError("x", "m"), 400],
      [new AccessError("x", "m"), 403],
      [new AccessError("invalid_token", "m"), 401],
      [new NotFoundError("job"), 404],
      [new ConflictError("x", "m"), 409],
      [new LimitError("x", "m"), 429],
      [new LimitError("payload_too_large", "m"), 413],
      [new IntegrityError("x", "m"), 500],
      [new ProverFailure("x", "m"), 500],
      [new UnavailableError("x", "m"), 503],
    ];
    for (const [err, status] of cases) expect(statusOf(err)).toBe(status);
    const answer = httpAnswerOf(new LimitError("queue_full", "wait", { retryAfterSeconds: 5 }));
    expect(answer).toEqual({
      status: 429,
      headers: { "Retry-After": "5" },
      body: { error: "queue_full", message: "wait" },
    });
  });
});

describe("service boundaries", () => {
  it("a malformed %-escape in a path parameter is a 400 with a JSON error, with or without a token", async () => {
    const { service, accessToken } = await setup();
    for (const path of ["/v1/jobs/%", "/v1/jobs/%E0%A4%A/bundle", "/v1/receipts/%zz", "/v1/datasets/%"]) {
      for (const tokenOption of [{}, { token: accessToken }]) {
        const response = await service.api("GET", path, tokenOption);
        expect(response.status, path).toBe(400);
        expect(response.json).toMatchObject({ error: "invalid_request", requestId: expect.any(String) });
        expect(response.text).not.toMatch(/URIError|at .*\.js/);
      }
    }
    expect(errorLines(service)).toEqual([]);
  });

  it("a programming error in a route is a generic 500 and exactly one internal error log line", async () => {
    const { service, accessToken } = await setup();
    const { jobs } = service.server.ctx;
    const original = jobs.listForPartner;
    jobs.listForPartner = () => {
      throw new TypeError("Cannot read properties of undefined (reading 'secretish')");
    };
    try {
      const response = await service.api("GET", "/v1/jobs", { token: accessToken });
      expect(response.status).toBe(500);
      expect(response.json).toEqual({
        error: "internal_error",
        message: "internal error",
        requestId: expect.any(String),
      });
      expect(response.text).not.toContain("secretish");
      const lines = errorLines(service);
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0] as string)).toMatchObject({
        msg: "internal error",
        err: { name: "TypeError" },
      });
    } finally {
      jobs.listForPartner = original;
    }
  });

  it("a programming error while proving is an internal failure: not the partner's, not retried, refunded", async () => {
    const buggy = failingBackend(() => new TypeError("undefined is not a function"));
    const { service, accessToken } = await setup({
      overrides: { backend: buggy },
      config: { jobs: { maxAttempts: 3 } },
    });
    const submitted = await service.api("POST", "/v1/queries", {
      token: accessToken,
      body: { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() },
    });
    expect(submitted.status).toBe(202);
    const failed = await waitForJob(service, accessToken, submitted.json.jobId);
    expect(failed).toMatchObject({ state: "failed", attempts: 1, error: { code: "internal_error" } });
    expect(buggy.calls()).toBe(1);
    expect(ledgerState(service, failed.jobId)).toBe("refunded");
    expect(JSON.stringify(failed)).not.toContain("undefined is not a function");
    const lines = errorLines(service).map((line) => JSON.parse(line));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ code: "internal_error", err: { name: "TypeError" } });
    expect(JSON.stringify(lines[0])).not.toContain("undefined is not a function");
  });
});
