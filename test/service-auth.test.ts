/**
 * Authentication and hardening over real HTTP: the client-credentials token flow (Basic and form body);
 * expired, forged, unsigned, algorithm-confused, wrong-audience, wrong-issuer and tampered tokens -> 401
 * with `WWW-Authenticate`; missing scope -> 403 naming the scope; revocation by secret rotation and by
 * disabling; per-client and per-IP rate limits -> 429; body limit -> 413; malformed bodies; 5xx without
 * internals; security headers; OpenAPI document and docs page; request timeouts; TLS 1.3 only; config
 * validation; admin endpoints.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import tls from "node:tls";
import { decodeJwt, SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, configFromSources, keyFileOf, parseServiceConfig } from "../src/service/config.ts";
import { loadServiceKeys } from "../src/service/service-keys.ts";
import { TokenService } from "../src/service/tokens.ts";
import { KeyRing } from "../src/storage/keyring.ts";
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
} from "./helpers/service.ts";

let service: TestService;
let alice: TestPartner;
let aliceToken: string;

function form(body: Record<string, string>, headers: Record<string, string> = {}) {
  return {
    rawBody: new URLSearchParams(body).toString(),
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
  };
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;

beforeAll(async () => {
  service = await startTestService({ config: { jobs: { concurrency: 0 } } });
  await addDataset(service, "ds-a", ROWS_A);
  alice = await addPartner(service, "alice", ["datasets:read", "queries:submit"], {
    datasets: ["ds-a"],
    fields: ["country"],
  });
  aliceToken = await token(service, alice);
});

afterAll(async () => {
  await service?.close();
});

describe("token endpoint", () => {
  it("issues short-lived EdDSA JWTs by HTTP Basic or form credentials, narrowed to the requested scope", async () => {
    const byBasic = await service.api(
      "POST",
      "/oauth/token",
      form(
        { grant_type: "client_credentials" },
        { authorization: basic(alice.clientId, alice.clientSecret) },
      ),
    );
    expect(byBasic.status).toBe(200);
    expect(byBasic.json).toMatchObject({
      token_type: "Bearer",
      expires_in: 300,
      scope: "datasets:read queries:submit",
    });
    expect(byBasic.headers.get("cache-control")).toBe("no-store");
    const claims = decodeJwt(byBasic.json.access_token);
    expect(claims).toMatchObject({
      iss: "urn:zktally:service",
      aud: "zktally-api",
      sub: "alice",
      scope: "datasets:read queries:submit",
    });
    expect(typeof claims.jti).toBe("string");
    expect((claims.exp as number) - (claims.iat as number)).toBe(300);

    const byForm = await service.api(
      "POST",
      "/oauth/token",
      form({
        grant_type: "client_credentials",
        client_id: "alice",
        client_secret: alice.clientSecret,
        scope: "datasets:read",
      }),
    );
    expect(byForm.status).toBe(200);
    expect(byForm.json.scope).toBe("datasets:read");
    const narrowed = byForm.json.access_token as string;
    expect((await service.api("GET", "/v1/datasets", { token: narrowed })).status).toBe(200);
    const refused = await service.api("POST", "/v1/queries", {
      token: narrowed,
      body: { datasetId: "ds-a", query: FR_COUNT, nonce: nonce() },
    });
    expect(refused.status).toBe(403);
    expect(refused.headers.get("www-authenticate")).toBe(
      'Bearer realm="zktally", error="insufficient_scope", scope="queries:submit"',
    );
  });

  it("refuses bad client credentials and malformed token requests (RFC 6749 errors)", async () => {
    const cases: [ReturnType<typeof form>, number, string][] = [
      [
        form({ grant_type: "client_credentials" }, { authorization: basic("alice", "zks_wrong") }),
        401,
        "invalid_client",
      ],
      [
        form({ grant_type: "client_credentials" }, { authorization: basic("nobody", alice.clientSecret) }),
        401,
        "invalid_client",
      ],
      [form({ grant_type: "client_credentials", client_id: "alice" }), 401, "invalid_client"],
      [form({ grant_type: "client_credentials" }), 401, "invalid_client"],
      [
        form({ grant_type: "password", client_id: "alice", client_secret: alice.clientSecret }),
        400,
        "unsupported_grant_type",
      ],
      [
        form(
          { grant_type: "client_credentials", client_id: "alice", client_secret: alice.clientSecret },
          { authorization: basic("alice", alice.clientSecret) },
        ),
        400,
        "invalid_request",
      ],
      [
        form({
          grant_type: "client_credentials",
          client_id: "alice",
          client_secret: alice.clientSecret,
          scope: "admin",
        }),
        400,
        "invalid_scope",
      ],
    ];
    for (const [request, status, error] of cases) {
      const response = await service.api("POST", "/oauth/token", request);
      expect(response.status, error).toBe(status);
      expect(response.json.error).toBe(error);
      expect(typeof response.json.error_description).toBe("string");
      if (status === 401) expect(response.headers.get("www-authenticate")).toBe('Basic realm="zktally"');
    }
    const json = await service.api("POST", "/oauth/token", { body: { grant_type: "client_credentials" } });
    expect(json.status).toBe(400);
    const refusals = service.server.ctx.audit.log
      .findEntries({ partner: "alice", limit: 1000 })
      .map((entry) => JSON.parse(entry.entry))
      .filter((entry) => entry.action === "token.issue" && entry.decision === "refused");
    // Two invalid_client refusals of alice fall in one refusal window (audited once), three other codes.
    expect(refusals.map((entry) => entry.details.code)).toEqual([
      "invalid_client",
      "unsupported_grant_type",
      "invalid_request",
      "invalid_scope",
    ]);
  });
});

describe("bearer tokens", () => {
  let keys: { token: Uint8Array };
  beforeAll(async () => {
    keys = loadServiceKeys(service.server.ctx.db, await KeyRing.load(keyFileOf(service.server.ctx.config)));
  });

  async function expect401(accessToken: string, description: RegExp) {
    const response = await service.api("GET", "/v1/datasets", { token: accessToken });
    expect(response.status).toBe(401);
    expect(response.json.error).toBe("invalid_token");
    const challenge = response.headers.get("www-authenticate") ?? "";
    expect(challenge).toMatch(/^Bearer realm="zktally", error="invalid_token", error_description="/);
    expect(challenge).toMatch(description);
  }

  it("no token or a malformed header -> 401 with a Bearer challenge", async () => {
    const none = await service.api("GET", "/v1/datasets");
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe('Bearer realm="zktally"');
    const basicHeader = await service.api("GET", "/v1/datasets", {
      headers: { authorization: basic("alice", "x") },
    });
    expect(basicHeader.status).toBe(401);
    expect(basicHeader.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
    await expect401("not-a-jwt", /malformed/);
  });

  it("expired, wrong-audience, wrong-issuer, forged, unsigned, HS256-confused and tampered tokens -> 401", async () => {
    const { tokens } = service.server.ctx;
    const now = Math.floor(Date.now() / 1000);
    const expired = await tokens.issue("alice", ["datasets:read"], 1, {
      issuedAt: now - 3600,
      ttlSeconds: 60,
    });
    await expect401(expired.accessToken, /expired/);
    const otherAudience = await tokens.issue("alice", ["datasets:read"], 1, { audience: "another-api" });
    await expect401(otherAudience.accessToken, /aud/);
    const options = {
      issuer: "urn:zktally:service",
      audience: "zktally-api",
      ttlSeconds: 300,
      clockToleranceSeconds: 5,
    };
    const otherIssuer = await TokenService.create({ ...options, secretKey: keys.token, issuer: "urn:evil" });
    await expect401((await otherIssuer.issue("alice", ["datasets:read"], 1)).accessToken, /iss/);
    const forger = await TokenService.create({
      ...options,
      secretKey: crypto.getRandomValues(new Uint8Array(32)),
    });
    await expect401((await forger.issue("alice", ["datasets:read"], 1)).accessToken, /signature/);
    const unsigned = new UnsecuredJWT({ scope: "datasets:read", cv: 1 })
      .setIssuer(options.issuer)
      .setAudience(options.audience)
      .setSubject("alice")
      .setIssuedAt()
      .setExpirationTime("5m")
      .setJti("x")
      .encode();
    await expect401(unsigned, /./);
    // Algorithm confusion: an HMAC token keyed with the (public) verification key.
    const jwk = service.server.ctx.tokens.publicJwk;
    const hs256 = await new SignJWT({ scope: "datasets:read", cv: 1 })
      .setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid: jwk.kid })
      .setIssuer(options.issuer)
      .setAudience(options.audience)
      .setSubject("alice")
      .setIssuedAt()
      .setExpirationTime("5m")
      .setJti("y")
      .sign(Buffer.from(jwk.x as string, "base64url"));
    await expect401(hs256, /algorithm/);
    // Scope escalation by editing the payload of a valid token.
    const [header, , signature] = aliceToken.split(".");
    const payload = { ...decodeJwt(aliceToken), scope: "admin datasets:read" };
    const tampered = `${header}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.${signature}`;
    await expect401(tampered, /signature/);
  });

  it("missing scope -> 403 naming the scope (audited); admin endpoints need the admin scope", async () => {
    for (const [method, route, scope] of [
      ["GET", "/v1/receipts", "audit:read"],
      ["GET", "/v1/admin/partners", "admin"],
      ["POST", "/v1/admin/datasets", "admin"],
      ["POST", "/v1/admin/keys/rotate", "admin"],
    ] as const) {
      const response = await service.api(method, route, {
        token: aliceToken,
        body: method === "POST" ? {} : undefined,
      });
      expect(response.status, route).toBe(403);
      expect(response.json.error).toBe("insufficient_scope");
      expect(response.headers.get("www-authenticate")).toContain(`scope="${scope}"`);
    }
    const refused = service.server.ctx.audit.log
      .findEntries({ partner: "alice", limit: 1000 })
      .map((entry) => JSON.parse(entry.entry))
      .filter((entry) => entry.decision === "refused" && entry.details?.code === "insufficient_scope");
    expect(refused.map((entry) => entry.action)).toEqual(
      expect.arrayContaining([
        "receipts.list",
        "admin.partner.list",
        "admin.dataset.register",
        "admin.keys.rotate",
      ]),
    );
  });

  it("rotating the secret revokes the old secret and every token issued before; disabling revokes too", async () => {
    const carol = await addPartner(service, "carol", ["datasets:read"], { datasets: ["ds-a"] });
    const before = await token(service, carol);
    expect((await service.api("GET", "/v1/datasets", { token: before })).status).toBe(200);
    const secret = await service.admin.rotateSecret(null, crypto.randomUUID(), "carol");
    await expect401(before, /revoked/);
    await expect(token(service, carol)).rejects.toThrow(/401/);
    const after = await token(service, { clientId: "carol", clientSecret: secret });
    expect((await service.api("GET", "/v1/datasets", { token: after })).status).toBe(200);
    service.admin.setActive(null, crypto.randomUUID(), "carol", false);
    await expect401(after, /revoked/);
    await expect(token(service, { clientId: "carol", clientSecret: secret })).rejects.toThrow(/401/);
  });
});

describe("limits", () => {
  it("per-client rate limit -> 429 with Retry-After; per-IP limit on the token endpoint", async () => {
    const limited = await startTestService({
      config: {
        jobs: { concurrency: 0 },
        rateLimit: { windowMs: 60_000, max: 5 },
        tokenRateLimit: { windowMs: 60_000, max: 3 },
      },
    });
    try {
      const dave = await addPartner(limited, "dave", ["datasets:read"]);
      const erin = await addPartner(limited, "erin", ["datasets:read"]);
      const daveToken = await token(limited, dave);
      const erinToken = await token(limited, erin);
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++)
        statuses.push((await limited.api("GET", "/v1/datasets", { token: daveToken })).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
      const limitedResponse = await limited.api("GET", "/v1/datasets", { token: daveToken });
      expect(limitedResponse.json.error).toBe("rate_limited");
      expect(Number(limitedResponse.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(limitedResponse.headers.get("ratelimit-remaining")).toBe("0");
      // Another client has its own allowance.
      expect((await limited.api("GET", "/v1/datasets", { token: erinToken })).status).toBe(200);
      // Two token requests were made above; the third passes, the fourth is limited.
      expect(
        (await limited.api("POST", "/oauth/token", form({ grant_type: "client_credentials" }))).status,
      ).toBe(401);
      const tooMany = await limited.api("POST", "/oauth/token", form({ grant_type: "client_credentials" }));
      expect(tooMany.status).toBe(429);
    } finally {
      await limited.close();
    }
  });

  it("oversized bodies -> 413 before parsing; malformed JSON -> 400; non-JSON -> 415; no internals", async () => {
    const small = await startTestService({ config: { jobs: { concurrency: 0 }, bodyLimitBytes: 1024 } });
    try {
      const frank = await addPartner(small, "frank", ["queries:submit"], { datasets: ["ds-a"] });
      const frankToken = await token(small, frank);
      const huge = { datasetId: "ds-a", nonce: "1", query: FR_COUNT, padding: "x".repeat(4096) };
      const tooLarge = await small.api("POST", "/v1/queries", { token: frankToken, body: huge });
      expect(tooLarge.status).toBe(413);
      expect(tooLarge.json.error).toBe("payload_too_large");
      const broken = await small.api("POST", "/v1/queries", {
        token: frankToken,
        rawBody: '{"datasetId": ',
        headers: { "content-type": "application/json" },
      });
      expect(broken.status).toBe(400);
      expect(broken.json.error).toBe("invalid_json");
      expect(broken.text).not.toMatch(/at |SyntaxError|body-parser|node_modules/);
      const notJson = await small.api("POST", "/v1/queries", {
        token: frankToken,
        rawBody: "datasetId=ds-a",
        headers: { "content-type": "text/plain" },
      });
      expect(notJson.status).toBe(415);
      const array = await small.api("POST", "/v1/queries", { token: frankToken, body: [1, 2] });
      expect(array.status).toBe(400);
    } finally {
      await small.close();
    }
  });

  it("a JSON body naming a member twice is 400 invalid_json with its line and column, never last-wins", async () => {
    const jobsBefore = service.server.ctx.jobs.listForPartner("alice", 1000).length;
    const second = JSON.stringify({ predicate: [], aggregate: { kind: "count" } });
    const twoQueries = `{\n  "datasetId": "ds-a",\n  "nonce": "${nonce()}",\n  "query": ${JSON.stringify(FR_COUNT)},\n  "query": ${second}\n}`;
    const refused = await service.api("POST", "/v1/queries", {
      token: aliceToken,
      rawBody: twoQueries,
      headers: { "content-type": "application/json" },
    });
    expect(refused.status, refused.text).toBe(400);
    expect(refused.json).toMatchObject({ error: "invalid_json", line: 5, column: 3 });
    expect(refused.json.message).toMatch(
      /line 5 column 3: duplicate key "query" \(first at line 4 column 3\)/,
    );
    const nested = `{"datasetId":"ds-a","nonce":"${nonce()}","query":{"predicate":[],"aggregate":{"kind":"count","kind":"sum"}}}`;
    const nestedRefused = await service.api("POST", "/v1/queries", {
      token: aliceToken,
      rawBody: nested,
      headers: { "content-type": "application/json; charset=utf-8" },
    });
    expect(nestedRefused.json).toMatchObject({ error: "invalid_json" });
    expect(nestedRefused.json.message).toMatch(/duplicate key "kind" .*\(in \$\.query\.aggregate\)/);
    expect(service.server.ctx.jobs.listForPartner("alice", 1000)).toHaveLength(jobsBefore);

    const ops = await addPartner(service, "ops-json", ["admin"]);
    const opsToken = await token(service, ops);
    const twoPolicies = `{"clientId":"ivan","scopes":["datasets:read"],"policy":{"datasets":["ds-a"]},"policy":{"datasets":["ds-a"],"minGroupSize":0}}`;
    const admin = await service.api("POST", "/v1/admin/partners", {
      token: opsToken,
      rawBody: twoPolicies,
      headers: { "content-type": "application/json" },
    });
    expect(admin.status).toBe(400);
    expect(admin.json.message).toMatch(/duplicate key "policy"/);
    expect(service.server.ctx.partners.get("ivan")).toBeUndefined();
    const latin1 = await service.api("POST", "/v1/queries", {
      token: aliceToken,
      rawBody: JSON.stringify({ datasetId: "ds-a", nonce: nonce(), query: FR_COUNT }),
      headers: { "content-type": "application/json; charset=latin1" },
    });
    expect(latin1.status).toBe(415);
  });

  it("5xx responses carry no internals (message, stack, SQL); the operator log has them", async () => {
    const { db } = service.server.ctx;
    db.exec("ALTER TABLE budget_ledger RENAME TO budget_ledger_moved");
    try {
      const response = await service.api("GET", "/v1/budget", { token: aliceToken });
      expect(response.status).toBe(500);
      expect(response.json).toEqual({
        error: "internal_error",
        message: "internal error",
        requestId: response.headers.get("x-request-id"),
      });
      expect(response.text).not.toMatch(/budget_ledger|SQLITE|no such table|\.ts|at /);
    } finally {
      db.exec("ALTER TABLE budget_ledger_moved RENAME TO budget_ledger");
    }
    expect(service.logs.text()).toMatch(/"msg":"internal error"/);
  });

  it("a client that never finishes its request is cut off (408)", async () => {
    const slow = await startTestService({ config: { jobs: { concurrency: 0 }, requestTimeoutMs: 1000 } });
    try {
      const { port } = slow.server;
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(port, "127.0.0.1", () => {
          socket.write(
            "POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=",
          );
        });
        let data = "";
        socket.on("data", (chunk) => {
          data += chunk;
        });
        socket.on("close", () => resolve(data));
        socket.on("error", reject);
        setTimeout(() => reject(new Error("not cut off")), 8000).unref();
      });
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      await slow.close();
    }
  });
});

describe("public surface", () => {
  it("security headers, no X-Powered-By, request ids, JSON 404s", async () => {
    const health = await service.api("GET", "/healthz");
    expect(health.status).toBe(200);
    expect(health.headers.get("x-powered-by")).toBeNull();
    expect(health.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(health.headers.get("x-content-type-options")).toBe("nosniff");
    expect(health.headers.get("strict-transport-security")).toContain("max-age");
    expect(health.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect((await service.api("GET", "/readyz")).json.status).toBe("ready");
    const missing = await service.api("GET", "/v2/nothing");
    expect(missing.status).toBe(404);
    expect(missing.json.error).toBe("not_found");
  });

  it("serves an OpenAPI 3.1 document, a script-free docs page and the token key set", async () => {
    const document = (await service.api("GET", "/openapi.json")).json;
    expect(document.openapi).toBe("3.1.0");
    for (const route of [
      "/oauth/token",
      "/v1/datasets",
      "/v1/circuits",
      "/v1/queries",
      "/v1/jobs/{jobId}",
      "/v1/jobs/{jobId}/bundle",
      "/v1/receipts/{requestId}",
    ]) {
      expect(document.paths[route], route).toBeDefined();
    }
    expect(document.paths["/v1/queries"].post["x-scope"]).toBe("queries:submit");
    const docs = await service.api("GET", "/docs");
    expect(docs.headers.get("content-type")).toMatch(/text\/html/);
    expect(docs.text).toContain("/v1/jobs/{jobId}/bundle");
    expect(docs.text).not.toMatch(/<script|https?:\/\/(?!127)/i);
    const jwks = (await service.api("GET", "/.well-known/jwks.json")).json;
    expect(jwks.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA" });
    expect(jwks.keys[0].d).toBeUndefined();
  });

  it("admin endpoints: register partners (secret shown once), datasets, verify the audit log", async () => {
    const ops = await addPartner(service, "ops", ["admin"]);
    const opsToken = await token(service, ops);
    const created = await service.api("POST", "/v1/admin/partners", {
      token: opsToken,
      body: { clientId: "gina", scopes: ["datasets:read"], policy: { datasets: ["ds-http"] } },
    });
    expect(created.status).toBe(201);
    expect(created.json.clientSecret).toMatch(/^zks_/);
    const shown = await service.api("GET", "/v1/admin/partners/gina", { token: opsToken });
    expect(shown.text).not.toContain(created.json.clientSecret);
    expect(shown.text).not.toMatch(/scrypt|secret_hash/);
    const strict = await service.api("POST", "/v1/admin/partners", {
      token: opsToken,
      body: { clientId: "hank", scopes: ["datasets:read"], secretHash: "scrypt$..." },
    });
    expect(strict.status).toBe(400);
    const dataset = await service.api("POST", "/v1/admin/datasets", {
      token: opsToken,
      body: { datasetId: "ds-http", schema: SERVICE_SCHEMA, rows: ROWS_A },
    });
    expect(dataset.status).toBe(201);
    expect(dataset.json.manifest.recordCount).toBe(ROWS_A.length);
    const badRows = await service.api("POST", "/v1/admin/datasets", {
      token: opsToken,
      body: { datasetId: "ds-bad", schema: SERVICE_SCHEMA, rows: [{ ...ROWS_A[0], edits: 70000 }] },
    });
    expect(badRows.status).toBe(400);
    expect(badRows.json.error).toBe("invalid_records");
    const gina = await token(service, { clientId: "gina", clientSecret: created.json.clientSecret });
    const visible = await service.api("GET", "/v1/datasets", { token: gina });
    expect(visible.json.datasets.map((d: { datasetId: string }) => d.datasetId)).toEqual(["ds-http"]);
    const verified = await service.api("GET", "/v1/admin/audit/verify", { token: opsToken });
    expect(verified.json.ok).toBe(true);
    expect(verified.json.treeSize).toBe(service.server.ctx.audit.log.size());
  });
});

describe("transport and configuration", () => {
  it("with a certificate, serves TLS 1.3 only", async () => {
    const dir = tempDir("tls");
    const [cert, key] = [path.join(dir, "cert.pem"), path.join(dir, "key.pem")];
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost",
      ],
      { stdio: "ignore" },
    );
    const secure = await startTestService({
      config: { jobs: { concurrency: 0 }, tls: { certPath: cert, keyPath: key } },
    });
    try {
      expect(secure.url).toMatch(/^https:\/\//);
      const ca = readFileSync(cert);
      const connect = (maxVersion: tls.SecureVersion) =>
        new Promise<string>((resolve, reject) => {
          const socket = tls.connect(
            { host: "127.0.0.1", port: secure.server.port, servername: "localhost", ca, maxVersion },
            () => {
              resolve(socket.getProtocol() ?? "");
              socket.end();
            },
          );
          socket.on("error", reject);
        });
      expect(await connect("TLSv1.3")).toBe("TLSv1.3");
      await expect(connect("TLSv1.2")).rejects.toThrow();
      const status = await new Promise<number>((resolve, reject) => {
        https
          .get(
            { host: "127.0.0.1", port: secure.server.port, servername: "localhost", ca, path: "/healthz" },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          )
          .on("error", reject);
      });
      expect(status).toBe(200);
    } finally {
      await secure.close();
    }
  });

  it("validates configuration at boot, naming the offending setting; flags win over environment", () => {
    expect(() => parseServiceConfig({ dataDir: "/tmp/x", port: 70_000 })).toThrow(ConfigError);
    expect(() => parseServiceConfig({ dataDir: "/tmp/x", port: 70_000 })).toThrow(/port/);
    expect(() => parseServiceConfig({ dataDir: "/tmp/x", tls: { certPath: "c" } })).toThrow(/tls\.keyPath/);
    expect(() => parseServiceConfig({ dataDir: "/tmp/x", tokenTtl: 5 })).toThrow(ConfigError);
    expect(() => configFromSources({ port: "80a" }, {})).toThrow(/--port/);
    expect(() => configFromSources({}, { ZKTALLY_RATE_LIMIT: "0" })).toThrow(/rateLimit\.max/);
    const config = configFromSources(
      { port: "9000", "data-dir": "/tmp/flag" },
      { ZKTALLY_PORT: "9001", ZKTALLY_DATA_DIR: "/tmp/env", ZKTALLY_WORKERS: "2", ZKTALLY_TOKEN_TTL: "120" },
    );
    expect(config).toMatchObject({
      port: 9000,
      dataDir: "/tmp/flag",
      tokenTtlSeconds: 120,
      host: "127.0.0.1",
    });
    expect(config.jobs.concurrency).toBe(2);
  });

  it("refuses to serve INSECURE development keys unless started in development mode (--dev)", async () => {
    expect(configFromSources({}, {}).mode).toBe("production");
    expect(configFromSources({ dev: true }, {}).mode).toBe("development");
    expect(configFromSources({}, { ZKTALLY_MODE: "development" }).mode).toBe("development");
    expect(() => configFromSources({ dev: true, mode: "production" }, {})).toThrow(/--dev contradicts/);
    expect(() => configFromSources({ mode: "staging" }, {})).toThrow(ConfigError);
    const dataDir = tempDir("svc-prod");
    try {
      const production = startTestService({ config: { mode: "production" }, dataDir });
      await expect(production).rejects.toBeInstanceOf(ConfigError);
      await expect(production).rejects.toThrow(
        /INSECURE development keys .*can forge proofs.*development mode \(--dev, ZKTALLY_MODE=development\)/,
      );
      // The refusal closed what it opened: the same directory boots in development mode and says so.
      const development = await startTestService({ config: { mode: "development" }, dataDir });
      try {
        const circuits = await development.api("GET", "/v1/circuits", {
          token: await token(development, await addPartner(development, "dora", ["datasets:read"])),
        });
        expect(circuits.json.circuits[0].insecure).toBe(true);
        expect(development.logs.text()).toMatch(/"mode":"development".*"insecureKeys":true/);
      } finally {
        await development.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
