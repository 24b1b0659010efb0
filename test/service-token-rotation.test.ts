/**
 * Token signing key rotation without downtime (issue 13, point 3) over real HTTP: an admin rotates the key
 * while the service runs; a token issued before keeps working until it expires (its key is listed in the
 * JWKS meanwhile), new tokens carry the new key id, and once the old tokens' lifetime has passed the old key
 * verifies nothing. The rotation is audited. Across a restart (and a storage key rotation that re-seals the
 * retired key), tokens of the old key keep working until they expire, and no longer: a restart after the
 * retirement time loads no old key (the row is pruned), so even a token of the old key that has not expired
 * is refused.
 */
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addPartner,
  startTestService,
  type TestPartner,
  type TestService,
  tempDir,
  token,
} from "./helpers/service.ts";

let clock = Date.now();
let service: TestService;
let admin: TestPartner;

beforeAll(async () => {
  service = await startTestService({ overrides: { now: () => clock } });
  admin = await addPartner(service, "ops", ["admin"]);
});

afterAll(async () => {
  await service?.close();
});

const kidOf = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split(".")[0] as string, "base64url").toString()).kid;

describe("token key rotation", () => {
  it("keeps old tokens valid until they expire, signs new ones with the new key", async () => {
    const before = await token(service, admin);
    const rotated = await service.api("POST", "/v1/admin/keys/rotate-token", { token: before });
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.json.oldKid).toBe(kidOf(before));
    expect((await service.api("GET", "/v1/admin/partners", { token: before })).status).toBe(200);
    const after = await token(service, admin);
    expect(kidOf(after)).toBe(rotated.json.newKid);
    const jwks = await service.api("GET", "/.well-known/jwks.json");
    expect(jwks.json.keys.map((key: { kid: string }) => key.kid)).toEqual([
      rotated.json.newKid,
      rotated.json.oldKid,
    ]);
    const entries = service.server.ctx.audit.log.findEntries({ limit: 1000 }).map((e) => JSON.parse(e.entry));
    expect(entries.some((e) => e.action === "admin.keys.rotate-token" && e.decision === "accepted")).toBe(
      true,
    );

    // Past the old tokens' lifetime (+ tolerance) the old key retires and leaves the JWKS.
    clock +=
      (service.server.ctx.config.tokenTtlSeconds + service.server.ctx.config.clockToleranceSeconds + 1) *
      1000;
    await expect(service.server.ctx.tokens.verify(before)).rejects.toThrow();
    const fresh = await token(service, admin);
    expect((await service.api("GET", "/v1/admin/partners", { token: fresh })).status).toBe(200);
    expect((await service.api("GET", "/.well-known/jwks.json")).json.keys).toHaveLength(1);
  });
});

describe("token key rotation across a restart", () => {
  it("old tokens verify after a restart until they expire, then the retired key is gone", async () => {
    const dataDir = tempDir("token-restart");
    let now = Date.now();
    const start = () => startTestService({ dataDir, overrides: { now: () => now } });
    let running = await start();
    try {
      const ops = await addPartner(running, "ops", ["admin"]);
      const before = await token(running, ops);
      const { ctx } = running.server;
      const cv = ctx.partners.require("ops").credentialVersion;
      // A token of the old key that outlives the key's retirement (ttl beyond the configured lifetime).
      const longLived = (await ctx.tokens.issue("ops", ["admin"], cv, { ttlSeconds: 100_000 })).accessToken;
      const rotated = await running.api("POST", "/v1/admin/keys/rotate-token", { token: before });
      expect(rotated.status, rotated.text).toBe(200);
      const storage = await running.api("POST", "/v1/admin/keys/rotate", { token: before });
      expect(storage.status, storage.text).toBe(200);
      await running.close();

      now += 1000;
      running = await start();
      expect((await running.api("GET", "/v1/admin/partners", { token: before })).status).toBe(200);
      const jwks = (await running.api("GET", "/.well-known/jwks.json")).json.keys as { kid: string }[];
      expect(jwks.map((key) => key.kid)).toEqual([rotated.json.newKid, rotated.json.oldKid]);
      expect(kidOf(await token(running, ops))).toBe(rotated.json.newKid);
      await running.close();

      now = (rotated.json.retireAt + 1) * 1000;
      running = await start();
      const retired = running.server.ctx.db.prepare("SELECT COUNT(*) FROM retired_token_keys").pluck().get();
      expect(retired).toBe(0);
      expect((await running.api("GET", "/.well-known/jwks.json")).json.keys).toHaveLength(1);
      expect((await running.api("GET", "/v1/admin/partners", { token: before })).status).toBe(401);
      const refused = await running.api("GET", "/v1/admin/partners", { token: longLived });
      expect(refused.status).toBe(401);
      expect(refused.text).toMatch(/signature/);
      const fresh = await token(running, ops);
      expect((await running.api("GET", "/v1/admin/partners", { token: fresh })).status).toBe(200);
    } finally {
      await running.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
