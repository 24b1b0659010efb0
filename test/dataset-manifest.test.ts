/**
 * @module test/dataset-manifest
 *
 * Commitment layout rules, the salt PRF known-answer vector (cross-checked with node:crypto), and the signed
 * manifest: sign/verify round trip, tampering and wrong keys (false), malformed structure (ManifestError).
 */
import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ManifestError } from "../src/dataset/errors.ts";
import { layoutDepth, leafCount, makeLayout, packedElementCount } from "../src/dataset/layout.ts";
import {
  buildManifest,
  type DatasetManifest,
  manifestHash,
  parseManifest,
  verifyManifest,
} from "../src/dataset/manifest.ts";
import { generateOperatorKey, operatorKeyOf, signManifest } from "../src/dataset/manifest-sign.ts";
import { deriveSalt, deriveSalts } from "../src/dataset/salt.ts";
import { parseSchema, schemaHash } from "../src/dataset/schema.ts";
import { canonicalJson } from "../src/util/canonical-json.ts";

const R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
const schema = parseSchema(
  JSON.parse(readFileSync(new URL("../examples/wikimedia/schema.json", import.meta.url), "utf8")),
);
const layout = makeLayout({ capacity: 64, fields: 8, width: 32, leafRecords: 4, arity: 16 });
/** RFC 8032 test 1 secret key, so signatures are reproducible. */
const secretKey = Uint8Array.from(
  Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex"),
);
const operatorKey = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

function sampleManifest(): DatasetManifest {
  const unsigned = buildManifest({
    datasetId: "wikimedia-editors",
    epoch: 3,
    schema,
    recordCount: 60,
    layout,
    root: 123456789012345678901234567890n,
    createdAt: new Date("2026-01-15T12:00:00Z"),
    circuits: ["aggregate-64x8x4"],
  });
  return signManifest(unsigned, secretKey);
}

function manifestErrorOf(json: unknown): ManifestError {
  try {
    verifyManifest(json);
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    return error as ManifestError;
  }
  throw new Error("expected a ManifestError");
}

describe("commitment layout", () => {
  it("counts packed elements greedily without splitting items", () => {
    expect(packedElementCount(8, 32)).toBe(2); // 7*32 = 224 in e0; v7 + flag in e1
    expect(packedElementCount(7, 32)).toBe(1); // 224 + 1 <= 248
    expect(packedElementCount(1, 1)).toBe(1);
    expect(packedElementCount(3, 64)).toBe(1); // 192 + 1
    expect(packedElementCount(4, 62)).toBe(2); // 248 full, flag spills
    expect(packedElementCount(31, 8)).toBe(2); // 248 full, flag spills
    expect(packedElementCount(30, 8)).toBe(1); // 240 + 1
    expect(packedElementCount(16, 64)).toBe(6); // 3 per element: 5 elements hold 15, the 16th + flag a 6th
  });

  it("accepts the design example and derives depth and leaves", () => {
    expect(layout).toEqual({ capacity: 64, fields: 8, width: 32, leafRecords: 4, arity: 16 });
    expect(Object.isFrozen(layout)).toBe(true);
    expect(layoutDepth(layout)).toBe(1);
    expect(leafCount(layout)).toBe(16);
    const single = makeLayout({ capacity: 4, fields: 8, width: 32, leafRecords: 4, arity: 2 });
    expect(layoutDepth(single)).toBe(0);
    expect(layoutDepth(makeLayout({ capacity: 32, fields: 2, width: 8, leafRecords: 4, arity: 2 }))).toBe(3);
  });

  it.each([
    ["capacity not B*A^D", { capacity: 48, fields: 8, width: 32, leafRecords: 4, arity: 16 }, "capacity 48"],
    [
      "capacity not a multiple of B",
      { capacity: 66, fields: 8, width: 32, leafRecords: 4, arity: 16 },
      "capacity",
    ],
    ["width 0", { capacity: 64, fields: 8, width: 0, leafRecords: 4, arity: 16 }, "layout.width"],
    ["width 65", { capacity: 64, fields: 8, width: 65, leafRecords: 4, arity: 16 }, "layout.width"],
    ["fields 0", { capacity: 64, fields: 0, width: 32, leafRecords: 4, arity: 16 }, "layout.fields"],
    ["arity 1", { capacity: 4, fields: 8, width: 32, leafRecords: 4, arity: 1 }, "layout.arity"],
    ["arity 17", { capacity: 68, fields: 8, width: 32, leafRecords: 4, arity: 17 }, "layout.arity"],
    [
      "too many leaf inputs",
      { capacity: 64, fields: 8, width: 32, leafRecords: 8, arity: 8 },
      "exceeds 16 Poseidon",
    ],
    [
      "fractional capacity",
      { capacity: 64.5, fields: 8, width: 32, leafRecords: 4, arity: 16 },
      "layout.capacity",
    ],
  ])("rejects %s", (_label, input, message) => {
    expect(() => makeLayout(input)).toThrow(expect.objectContaining({ code: "invalid_layout" }));
    expect(() => makeLayout(input)).toThrow(message);
  });

  it("accepts large power-of-two capacities (the 252-bit sum bound cannot bind below 2^53 slots)", () => {
    expect(
      layoutDepth(makeLayout({ capacity: 2 ** 52, fields: 1, width: 64, leafRecords: 1, arity: 2 })),
    ).toBe(52);
  });

  it("rejects non-numbers with an input error", () => {
    expect(() =>
      makeLayout({ capacity: "64", fields: 8, width: 32, leafRecords: 4, arity: 16 } as never),
    ).toThrow(expect.objectContaining({ kind: "input", code: "invalid_layout" }));
  });
});

describe("salt PRF", () => {
  const secret = Uint8Array.from({ length: 32 }, (_, i) => i);

  it("matches the known-answer vector and node:crypto HMAC", () => {
    const message = Buffer.concat([
      Buffer.from("zktally/salt/v1\0wikimedia-editors\0", "utf8"),
      Buffer.from("0000000000000003" + "0000000000000007", "hex"),
    ]);
    const mac = createHmac("sha256", secret).update(message).digest();
    expect(mac.toString("hex")).toBe("8da24e3174e8442b3ce61c50ce559a3035fe91e02e0dd8649c0030ddc75de902");
    const expected = BigInt(`0x${mac.subarray(0, 31).toString("hex")}`);
    expect(expected).toBe(250245627126167461005706462534063494006451702195009045840786097842325773801n);
    expect(deriveSalt(secret, "wikimedia-editors", 3, 7)).toBe(expected);
  });

  it("stays below 2^248 and separates epochs, ids and indices", () => {
    const salts = [
      deriveSalt(secret, "wikimedia-editors", 3, 7),
      deriveSalt(secret, "wikimedia-editors", 4, 7),
      deriveSalt(secret, "wikimedia-editors", 3, 8),
      deriveSalt(secret, "wikimedia-editor", 3, 7),
    ];
    expect(new Set(salts).size).toBe(4);
    for (const salt of salts) expect(salt < 2n ** 248n).toBe(true);
  });

  it("deriveSalts equals deriveSalt slot by slot", () => {
    const salts = deriveSalts(secret, "d", 0, 5);
    expect(salts).toEqual([0, 1, 2, 3, 4].map((i) => deriveSalt(secret, "d", 0, i)));
  });

  it.each([
    ["short secret", () => deriveSalt(new Uint8Array(31), "d", 0, 0), RangeError],
    ["non-bytes secret", () => deriveSalt([1, 2] as never, "d", 0, 0), TypeError],
    ["empty id", () => deriveSalt(secret, "", 0, 0), TypeError],
    ["id with slash", () => deriveSalt(secret, "a/b", 0, 0), TypeError],
    ["65-char id", () => deriveSalt(secret, "a".repeat(65), 0, 0), TypeError],
    ["negative epoch", () => deriveSalt(secret, "d", -1, 0), RangeError],
    ["fractional index", () => deriveSalt(secret, "d", 0, 0.5), RangeError],
    ["unsafe index", () => deriveSalt(secret, "d", 0, 2 ** 53), RangeError],
  ])("rejects %s", (_label, call, kind) => {
    expect(call).toThrow(kind);
  });
});

describe("manifest signing", () => {
  it("builds, signs and verifies the design example", () => {
    const manifest = sampleManifest();
    expect(manifest.operatorKey).toBe(operatorKey);
    expect(manifest.schemaHash).toBe(schemaHash(schema));
    expect(manifest.capacity).toBe(64);
    expect(manifest.root).toBe("123456789012345678901234567890");
    expect(manifest.createdAt).toBe("2026-01-15T12:00:00.000Z");
    expect(verifyManifest(manifest)).toBe(true);
    expect(verifyManifest(manifest, operatorKey)).toBe(true);
    expect(verifyManifest(manifest, operatorKey.toUpperCase())).toBe(true);
  });

  it("signs the canonical JSON without the signature (Ed25519, node:crypto cross-check)", async () => {
    const { verify, createPublicKey } = await import("node:crypto");
    const manifest = sampleManifest();
    const { signature, ...body } = manifest;
    const publicKey = createPublicKey({
      key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), Buffer.from(operatorKey, "hex")]),
      format: "der",
      type: "spki",
    });
    expect(verify(null, Buffer.from(canonicalJson(body)), publicKey, Buffer.from(signature, "hex"))).toBe(
      true,
    );
  });

  it("survives a JSON round trip", () => {
    const manifest = JSON.parse(JSON.stringify(sampleManifest()));
    expect(verifyManifest(manifest, operatorKey)).toBe(true);
    expect(parseManifest(manifest)).toEqual(manifest);
  });

  it.each([
    ["recordCount", { recordCount: 59 }],
    ["epoch", { epoch: 4 }],
    ["datasetId", { datasetId: "wikimedia-editorz" }],
    ["root", { root: "123456789012345678901234567891" }],
    ["createdAt", { createdAt: "2026-01-15T12:00:01.000Z" }],
    ["circuits", { circuits: ["aggregate-64x8x4", "extra"] }],
  ])("returns false when %s is tampered with", (_label, change) => {
    expect(verifyManifest({ ...sampleManifest(), ...change })).toBe(false);
  });

  it("returns false for a flipped signature bit, a different operator key, or the wrong expected key", () => {
    const manifest = sampleManifest();
    const flipped = manifest.signature.replace(/^./, (c) => (c === "0" ? "1" : "0"));
    expect(verifyManifest({ ...manifest, signature: flipped })).toBe(false);
    const other = generateOperatorKey();
    expect(verifyManifest({ ...manifest, operatorKey: other.publicKey })).toBe(false);
    expect(verifyManifest(manifest, other.publicKey)).toBe(false);
    // Re-signed by another key: valid on its own, rejected once the operator key is pinned.
    const { signature: _s, operatorKey: _k, ...unsigned } = manifest;
    const forged = signManifest(unsigned, other.secretKey);
    expect(verifyManifest(forged)).toBe(true);
    expect(verifyManifest(forged, operatorKey)).toBe(false);
  });

  it("returns false for a non-canonical signature scalar (S + L)", () => {
    const manifest = sampleManifest();
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    const sig = Buffer.from(manifest.signature, "hex");
    const s = BigInt(`0x${Buffer.from(sig.subarray(32)).reverse().toString("hex")}`) + L;
    const sBytes = Buffer.from(s.toString(16).padStart(64, "0"), "hex").reverse();
    const malleated = Buffer.concat([sig.subarray(0, 32), sBytes]).toString("hex");
    expect(verifyManifest({ ...manifest, signature: malleated })).toBe(false);
  });

  it("hashes the whole manifest including the signature", () => {
    const manifest = sampleManifest();
    expect(manifestHash(manifest)).toBe(createHash("sha256").update(canonicalJson(manifest)).digest("hex"));
    const other = signManifest(buildManifest({ ...manifest, root: 1n, circuits: [] }), secretKey);
    expect(manifestHash(other)).not.toBe(manifestHash(manifest));
  });

  it("generates usable operator keys", () => {
    const { secretKey: sk, publicKey } = generateOperatorKey();
    expect(publicKey).toMatch(/^[0-9a-f]{64}$/);
    expect(operatorKeyOf(sk)).toBe(publicKey);
    expect(operatorKeyOf(secretKey)).toBe(operatorKey);
  });

  it("refuses bad secret keys and a malformed expected key", () => {
    const { signature: _s, operatorKey: _k, ...unsigned } = sampleManifest();
    expect(() => signManifest(unsigned, new Uint8Array(31))).toThrow(RangeError);
    expect(() => verifyManifest(sampleManifest(), "xyz")).toThrow(TypeError);
  });
});

describe("manifest structure", () => {
  const valid = () => sampleManifest() as unknown as Record<string, unknown>;
  const without = (key: string) => {
    const copy = valid();
    delete copy[key];
    return copy;
  };

  it.each([
    ["not an object", () => "manifest", "$"],
    ["version 3", () => ({ ...valid(), version: 3 }), "version"],
    ["a version 1 body marked version 2", () => ({ ...valid(), version: 2 }), "chunkCount"],
    ["extra field", () => ({ ...valid(), note: "hi" }), "$"],
    ["missing root", () => without("root"), "root"],
    ["missing signature", () => without("signature"), "signature"],
    ["bad datasetId", () => ({ ...valid(), datasetId: "a b" }), "datasetId"],
    ["negative epoch", () => ({ ...valid(), epoch: -1 }), "epoch"],
    ["unsafe epoch", () => ({ ...valid(), epoch: 2 ** 53 }), "epoch"],
    ["string epoch", () => ({ ...valid(), epoch: "3" }), "epoch"],
    ["root with leading zero", () => ({ ...valid(), root: "0123" }), "root"],
    ["negative root", () => ({ ...valid(), root: "-1" }), "root"],
    ["hex root", () => ({ ...valid(), root: "0x1" }), "root"],
    ["root = r", () => ({ ...valid(), root: R.toString() }), "root"],
    ["root = 2^256", () => ({ ...valid(), root: (2n ** 256n).toString() }), "root"],
    ["recordCount > capacity", () => ({ ...valid(), recordCount: 65 }), "recordCount"],
    ["capacity != layout", () => ({ ...valid(), capacity: 128 }), "capacity"],
    ["invalid layout", () => ({ ...valid(), layout: { ...layout, capacity: 48 }, capacity: 48 }), "layout"],
    ["extra layout field", () => ({ ...valid(), layout: { ...layout, depth: 1 } }), "layout"],
    ["layout narrower than schema", () => ({ ...valid(), layout: { ...layout, width: 16 } }), "layout.width"],
    ["layout with fewer fields", () => ({ ...valid(), layout: { ...layout, fields: 6 } }), "layout.fields"],
    ["schemaHash mismatch", () => ({ ...valid(), schemaHash: "0".repeat(64) }), "schemaHash"],
    [
      "uppercase schemaHash",
      () => ({ ...valid(), schemaHash: schemaHash(schema).toUpperCase() }),
      "schemaHash",
    ],
    [
      "schema edited (hash stale)",
      () => ({ ...valid(), schema: { ...schema, key: undefined } }),
      "schemaHash",
    ],
    ["invalid schema", () => ({ ...valid(), schema: { fields: [] } }), "schema.fields"],
    ["createdAt not ISO", () => ({ ...valid(), createdAt: "15/01/2026" }), "createdAt"],
    ["createdAt impossible date", () => ({ ...valid(), createdAt: "2026-02-30T00:00:00Z" }), "createdAt"],
    ["duplicate circuits", () => ({ ...valid(), circuits: ["a", "a"] }), "circuits"],
    ["bad circuit id", () => ({ ...valid(), circuits: ["a b"] }), "circuits[0]"],
    ["short operatorKey", () => ({ ...valid(), operatorKey: "ab" }), "operatorKey"],
    [
      "uppercase signature",
      () => ({ ...valid(), signature: String(valid().signature).toUpperCase() }),
      "signature",
    ],
  ])("throws ManifestError for %s", (_label, make, path) => {
    const error = manifestErrorOf(make());
    expect(error.path).toBe(path);
  });

  it("validates before hashing and when building", () => {
    expect(() => manifestHash({ ...sampleManifest(), recordCount: -1 })).toThrow(ManifestError);
    expect(() =>
      buildManifest({ datasetId: "d", epoch: 0, schema, recordCount: 65, layout, root: 0n, circuits: [] }),
    ).toThrow(ManifestError);
    expect(() =>
      buildManifest({ datasetId: "d", epoch: 0, schema, recordCount: 1, layout, root: R, circuits: [] }),
    ).toThrow("root");
  });
});

describe("buildManifest", () => {
  it("keeps only the five layout parameters of a wider shape", () => {
    const shape = { ...layout, clauses: 4, setSize: 4 };
    const unsigned = buildManifest({
      datasetId: "d",
      epoch: 0,
      schema,
      recordCount: 0,
      layout: shape,
      root: "0",
      circuits: [],
    });
    expect(unsigned.layout).toEqual(layout);
  });
});
