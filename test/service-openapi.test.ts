/**
 * The OpenAPI document is generated from the route table the routers validate with (src/service/api-routes.ts):
 * 1. every route registered on the Express app appears in the document, and every documented operation is
 *    registered (walking the app's router stack, mounted routers included);
 * 2. the document's request schemas, read back as JSON Schema, reject what the service's validators reject and
 *    accept what they accept (dataset ids, client ids, nonces around the BN254 scalar order r, bodies);
 * 3. the document has the required shape of OpenAPI 3.1 (info, paths, operations with responses, declared
 *    path parameters, defined security schemes, unique operation ids), and every response has a schema.
 * No database or keys: the app is built on a bare context, which route registration is all it needs.
 */
import type { Express } from "express";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { API, API_ROUTES } from "../src/service/api-routes.ts";
import { decimalBelowPattern, nonceSchema } from "../src/service/api-schemas.ts";
import { createApp } from "../src/service/app.ts";
import type { ServiceContext } from "../src/service/context.ts";
import { openApiDocument, openApiPath } from "../src/service/openapi.ts";
import { SCOPES } from "../src/service/tokens.ts";
import { MALFORMED_NONCES } from "./helpers/service.ts";

const R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

// biome-ignore lint/suspicious/noExplicitAny: the document is walked as plain JSON
type Json = any;

const document: Json = openApiDocument();

function bareApp(): Express {
  const config = {
    trustProxy: false,
    issuer: "https://zktally.test",
    bodyLimitBytes: 1024,
    adminBodyLimitBytes: 1024,
    requestTimeoutMs: 1000,
  };
  return createApp({ config } as unknown as ServiceContext);
}

interface StackLayer {
  readonly rawPath?: string;
  readonly route?: { readonly path: string; readonly methods: Record<string, boolean> };
  readonly handle: { readonly stack?: readonly StackLayer[] };
}

/** "METHOD /path" of every route in an Express 5 router stack, with the mount paths of nested routers. */
function registeredRoutes(stack: readonly StackLayer[], prefix = ""): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      return Object.keys(layer.route.methods).map((m) => `${m.toUpperCase()} ${prefix}${layer.route?.path}`);
    }
    if (!layer.handle.stack) return [];
    const mount = layer.rawPath === undefined || layer.rawPath === "/" ? "" : layer.rawPath;
    return registeredRoutes(layer.handle.stack, prefix + mount);
  });
}

function documentedRoutes(doc: Json): string[] {
  return Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
  );
}

/** Follows a local `#/components/schemas/...` reference. */
function deref(schema: Json): Json {
  const ref: string | undefined = schema.$ref;
  if (ref === undefined) return schema;
  expect(ref.startsWith("#/components/schemas/"), ref).toBe(true);
  return document.components.schemas[ref.slice("#/components/schemas/".length)];
}

/** A validator built from the document's JSON Schema, independent of the zod schema it came from. */
function fromDocument(schema: Json): z.ZodType {
  return z.fromJSONSchema(schema);
}

function pathParameter(path: string, method: string, name: string): z.ZodType {
  const parameter = document.paths[path][method].parameters.find((p: Json) => p.name === name);
  return fromDocument(parameter.schema);
}

function requestBody(path: string, method: string): z.ZodType {
  return fromDocument(document.paths[path][method].requestBody.content["application/json"].schema);
}

function expectSameVerdicts(documented: z.ZodType, validator: z.ZodType, samples: readonly unknown[]) {
  for (const sample of samples) {
    const expected = validator.safeParse(sample).success;
    expect(documented.safeParse(sample).success, JSON.stringify(sample)).toBe(expected);
  }
}

describe("route table <-> Express <-> OpenAPI", () => {
  it("every registered route is documented and every documented operation is registered", () => {
    const app = bareApp() as unknown as { router: { stack: StackLayer[] } };
    const registered = registeredRoutes(app.router.stack).map((route) => {
      const [method, path] = route.split(" ") as [string, string];
      return `${method} ${openApiPath(path)}`;
    });
    expect(new Set(registered).size).toBe(registered.length);
    expect([...registered].sort()).toEqual(documentedRoutes(document).sort());
    expect(registered.length).toBe(API_ROUTES.length);
  });

  it("the walk sees a route registered outside the table (the check can fail)", () => {
    const app = bareApp();
    app.get("/v1/undocumented", (_req, res) => {
      res.json({});
    });
    const registered = registeredRoutes((app as unknown as { router: { stack: StackLayer[] } }).router.stack);
    expect(registered).toContain("GET /v1/undocumented");
    expect(documentedRoutes(document)).not.toContain("GET /v1/undocumented");
  });
});

describe("documented request schemas reject what the validators reject", () => {
  it("dataset ids in the path", () => {
    const documented = pathParameter("/v1/datasets/{datasetId}", "get", "datasetId");
    const validator = API.readDataset.params.shape.datasetId;
    const samples = ["ds-a", "A.b_c-9", "x".repeat(64), "x".repeat(65), "", "ds a", "ds/a", "é", "ds%2F"];
    expectSameVerdicts(documented, validator, samples);
    expect(documented.safeParse("ds/a").success).toBe(false);
  });

  it("client ids and job ids in the path", () => {
    expectSameVerdicts(
      pathParameter("/v1/admin/partners/{clientId}", "get", "clientId"),
      API.readPartner.params.shape.clientId,
      ["alice", "a.b_c-d", "Alice", "-alice", "a".repeat(64), "a".repeat(65), ""],
    );
    expectSameVerdicts(pathParameter("/v1/jobs/{jobId}", "get", "jobId"), API.readJob.params.shape.jobId, [
      "0f8fad5b-d9cb-469f-a165-70867728950e",
      "0F8FAD5B-D9CB-469F-A165-70867728950E",
      "0f8fad5b-d9cb-469f-a165-70867728950",
      "not-a-uuid",
    ]);
  });

  it("nonces: canonical decimals strictly below r, and nothing else", () => {
    const nonces = [
      "0",
      "7",
      (R - 1n).toString(),
      R.toString(),
      (R + 1n).toString(),
      (10n ** 76n).toString(),
      (10n ** 77n).toString(),
      "1".repeat(77),
      "3".padEnd(77, "0"),
      "21888242871839275222246405745257275088548364400416034343698204186575808495616",
      "21888242871839275222246405745257275088548364400416034343698204186575808495618",
      "21888242871839275222246405745257275088548364400416034343698204186575808495607",
      "21888242871839275222246405745257275088548364400416034343698204186575808495627",
      ...MALFORMED_NONCES,
    ];
    const documented = requestBody("/v1/queries", "post");
    const body = (nonce: unknown) => ({ datasetId: "ds-a", query: { aggregate: "count" }, nonce });
    for (const nonce of nonces) {
      const expected = API.submitQuery.body.schema.safeParse(body(nonce)).success;
      expect(documented.safeParse(body(nonce)).success, nonce).toBe(expected);
      const below = /^(0|[1-9][0-9]*)$/.test(nonce) && BigInt(nonce) < R;
      expect(expected, nonce).toBe(below);
    }
    expect(documented.safeParse(body(7)).success).toBe(false);
  });

  it("the nonce pattern is exact for random values around r and for other bounds", () => {
    const pattern = new RegExp(nonceSchema.toJSONSchema().pattern as string);
    for (let i = 0; i < 2000; i++) {
      const offset = BigInt(Math.floor(Math.random() * 2 ** 40)) * (i % 2 === 0 ? 1n : -1n);
      const value = R + offset * 10n ** BigInt(i % 60);
      if (value < 0n) continue;
      expect(pattern.test(value.toString()), value.toString()).toBe(value < R);
    }
    for (const bound of [2n, 10n, 11n, 100n, 1000n, 1001n, 20009n]) {
      const below = decimalBelowPattern(bound);
      for (let n = 0n; n < bound + 30n; n++)
        expect(below.test(n.toString()), `${n} < ${bound}`).toBe(n < bound);
      expect(below.test(`0${bound - 1n}`)).toBe(false);
    }
  });

  it("submission bodies: dataset id pattern, required query, unknown fields ignored", () => {
    const documented = requestBody("/v1/queries", "post");
    expectSameVerdicts(documented, API.submitQuery.body.schema, [
      { datasetId: "ds-a", query: {}, nonce: "1" },
      { datasetId: "ds a", query: {}, nonce: "1" },
      { datasetId: "ds-a", nonce: "1" },
      { datasetId: "ds-a", query: {}, nonce: "1", minGroupSize: 0, partnerId: "racer" },
      { query: {}, nonce: "1" },
    ]);
  });

  it("pass submission bodies: queries with DNF predicates and pass aggregates, as the service parses them", () => {
    const histogram = { predicate: [], aggregate: { kind: "histogram", by: ["country", "bot"] } };
    const clause = { field: "country", op: "eq", value: "FR" };
    const pass = (queries: unknown) => ({ datasetId: "ds-a", queries, nonce: "1" });
    expectSameVerdicts(requestBody("/v1/passes", "post"), API.submitPass.body.schema, [
      pass([histogram]),
      pass([histogram, { predicate: { anyOf: [[clause], []] }, aggregate: { kind: "avg", field: "edits" } }]),
      pass([{ predicate: [clause], aggregate: { kind: "histogram", by: ["country"], sum: "edits" } }]),
      pass([{ predicate: [], aggregate: { kind: "threshold", k: "12" } }]),
      pass([]),
      pass([{ predicate: { anyOf: [] }, aggregate: { kind: "count" } }]),
      pass([{ predicate: [], aggregate: { kind: "histogram", by: ["a", "b", "c"] } }]),
      pass([{ predicate: [], aggregate: { kind: "max", field: "edits" } }]),
      pass([{ predicate: [], aggregate: { kind: "count" }, extra: 1 }]),
      pass(Array.from({ length: 65 }, () => histogram)),
      { ...pass([histogram]), minGroupSize: 0 },
    ]);
  });

  it("admin bodies: policies and partner registrations", () => {
    expectSameVerdicts(
      requestBody("/v1/admin/partners/{clientId}/policy", "put"),
      API.setPolicy.body.schema,
      [
        {},
        { datasets: ["ds-a"], minGroupSize: 0 },
        { minGroupSize: -1 },
        { minGroupSize: 2 ** 32 },
        { aggregates: ["median"] },
        { budget: { queries: 1 } },
        { unknownField: true },
      ],
    );
    expectSameVerdicts(requestBody("/v1/admin/partners", "post"), API.createPartner.body.schema, [
      { clientId: "gina", scopes: ["datasets:read"] },
      { clientId: "gina", scopes: ["datasets:read"], policy: { minGroupSize: 3 } },
      { clientId: "gina", scopes: ["datasets:read"], policy: { minGroupSize: "3" } },
      { clientId: "gina", scopes: [] },
      { clientId: "Gina", scopes: ["admin"] },
      { clientId: "hank", scopes: ["datasets:read"], secretHash: "scrypt$..." },
    ]);
  });
});

describe("OpenAPI 3.1 shape", () => {
  it("has the required top-level fields and defined security schemes", () => {
    expect(document.openapi).toBe("3.1.0");
    expect(typeof document.info.title).toBe("string");
    expect(typeof document.info.version).toBe("string");
    const schemes = document.components.securitySchemes;
    expect(schemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    expect(Object.keys(schemes.clientCredentials.flows.clientCredentials.scopes).sort()).toEqual(
      [...SCOPES].sort(),
    );
  });

  it("every operation: unique id, summary, scope, declared path parameters, responses with schemas", () => {
    const ids = new Set<string>();
    for (const [path, methods] of Object.entries(document.paths as Record<string, Record<string, Json>>)) {
      expect(path.startsWith("/"), path).toBe(true);
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      for (const [method, operation] of Object.entries(methods)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect(["get", "put", "post", "delete", "patch"], where).toContain(method);
        expect(ids.has(operation.operationId), where).toBe(false);
        ids.add(operation.operationId);
        expect(typeof operation.summary, where).toBe("string");
        const pathParameters = (operation.parameters ?? []).filter((p: Json) => p.in === "path");
        expect(pathParameters.map((p: Json) => p.name).sort(), where).toEqual(templated);
        for (const parameter of operation.parameters ?? []) {
          expect(["path", "query"], where).toContain(parameter.in);
          expect(parameter.schema, `${where} ${parameter.name}`).toBeTypeOf("object");
          if (parameter.in === "path") expect(parameter.required, where).toBe(true);
        }
        for (const requirement of operation.security) {
          for (const [scheme, scopes] of Object.entries(requirement as Record<string, string[]>)) {
            expect(document.components.securitySchemes[scheme], where).toBeDefined();
            for (const scope of scopes) expect(SCOPES, where).toContain(scope);
          }
        }
        expect(operation.security.length > 0, where).toBe(operation["x-scope"] !== "none");
        const statuses = Object.keys(operation.responses);
        expect(
          statuses.some((s) => /^2\d\d$/.test(s)),
          where,
        ).toBe(true);
        for (const status of statuses) {
          expect(status, where).toMatch(/^[1-5]\d\d$/);
          const response = operation.responses[status];
          expect(typeof response.description, `${where} ${status}`).toBe("string");
          const media = Object.values(response.content ?? {}) as Json[];
          expect(media.length, `${where} ${status} has a schema`).toBe(1);
          expect(media[0].schema, `${where} ${status}`).toBeTypeOf("object");
        }
        if (operation.requestBody) {
          expect(Object.keys(operation.requestBody.content).length, where).toBe(1);
        }
        if (operation["x-scope"] !== "none") {
          for (const status of ["401", "403", "429"]) expect(statuses, where).toContain(status);
        }
      }
    }
  });

  it("every $ref resolves to a component schema", () => {
    const refs = JSON.stringify(document).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(deref({ $ref: ref.slice(8, -1) }), ref).toBeTypeOf("object");
  });

  it("admin answers are described, not empty objects", () => {
    const partner = document.paths["/v1/admin/partners/{clientId}"].get.responses["200"];
    const schema = deref(partner.content["application/json"].schema);
    expect(schema.required).toEqual(expect.arrayContaining(["clientId", "scopes", "policy", "active"]));
    const verify = document.paths["/v1/admin/audit/verify"].get.responses["200"].content["application/json"];
    expect(deref(verify.schema).anyOf).toHaveLength(2);
  });
});
