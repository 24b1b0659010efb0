/**
 * Ceremony ptau import (src/setup/ceremony-ptau.ts): the shipped BLAKE2b table equals the snarkjs README's;
 * a ptau registered in an injected table is accepted and its hash pinned; one flipped byte, an unknown file
 * or a table/header mismatch is refused; the override works and is recorded as insecure. A power-5 dev
 * ptau stands in for a ceremony file; the circuit is a tiny fixture.
 */
import { createHash } from "node:crypto";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { setupCommand } from "../src/cli/commands/setup.ts";
import {
  assertPtauTable,
  checkCeremonyPtau,
  HERMEZ_PTAU_HASHES,
  hashPtauFile,
  PTAU_RECORD_FILE,
  type PublishedPtau,
  setupWithCeremonyPtau,
  UntrustedPtauError,
} from "../src/setup/ceremony-ptau.ts";
import { checkPinned, readKeysManifest } from "../src/setup/keys-manifest.ts";
import { BUILD_DIR_ENV } from "../src/setup/paths.ts";
import { devPtau, SetupError, terminateCurveWorkers } from "../src/setup/ptau.ts";

const FIXTURE = "test/fixtures/ceremony/ceremony_power.circom";
const PTAU_NAME = "powersOfTau28_test_05.ptau";

let tmp: string;
let buildDir: string;
let ptauPath: string;
let table: PublishedPtau[];

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "zktally-ptau-import-"));
  buildDir = path.join(tmp, "build");
  const dev = await devPtau(5, { buildDir });
  ptauPath = path.join(tmp, PTAU_NAME);
  await cp(dev.path, ptauPath);
  const { blake2b512 } = await hashPtauFile(ptauPath);
  table = [{ power: 5, file: PTAU_NAME, blake2b512 }];
}, 60_000);

afterAll(async () => {
  await terminateCurveWorkers();
  await rm(tmp, { recursive: true, force: true });
});

async function flippedCopy(name: string): Promise<string> {
  const dir = path.join(tmp, `flip-${Math.random().toString(16).slice(2)}`);
  const file = path.join(dir, name);
  await cp(ptauPath, file);
  const bytes = await readFile(file);
  const i = bytes.length - 64; // inside the last section: the header (and power) stay intact
  bytes[i] = (bytes[i] as number) ^ 0x80;
  await writeFile(file, bytes);
  return file;
}

describe("published hash table", () => {
  it("is exactly the table of the snarkjs README shipped with snarkjs", async () => {
    const readme = await readFile(
      path.join(path.dirname(createRequire(import.meta.url).resolve("snarkjs")), "..", "README.md"),
      "utf8",
    );
    const rows = [
      ...readme.matchAll(
        /^\|\s+(\d+)\s+\|[^|]*\|\s*\[([^\]]+\.ptau)\]\([^)]*\)\s*\|\s*([0-9a-f]{128})\s*\|/gm,
      ),
    ];
    const fromReadme = rows.map((m) => ({ power: Number(m[1]), file: m[2], blake2b512: m[3] }));
    expect(fromReadme).toHaveLength(21);
    expect(HERMEZ_PTAU_HASHES).toEqual(fromReadme);
  });

  it("has the known power 8 and power 28 entries (known answers)", () => {
    expect(HERMEZ_PTAU_HASHES[0]).toEqual({
      power: 8,
      file: "powersOfTau28_hez_final_08.ptau",
      blake2b512:
        "d6a8fb3a04feb600096c3b791f936a578c4e664d262e4aa24beed1b7a9a96aa5eb72864d628db247e9293384b74b36ffb52ca8d148d6e1b8b51e279fdf57b583",
    });
    expect(HERMEZ_PTAU_HASHES.at(-1)?.file).toBe("powersOfTau28_hez_final.ptau");
    expect(HERMEZ_PTAU_HASHES.map((e) => e.power)).toEqual(Array.from({ length: 21 }, (_, i) => i + 8));
    expect(() => assertPtauTable(HERMEZ_PTAU_HASHES)).not.toThrow();
  });

  it("computes BLAKE2b-512 as b2sum does (known answer for 'abc')", async () => {
    const file = path.join(tmp, "abc.bin");
    await writeFile(file, "abc");
    const { blake2b512, sha256 } = await hashPtauFile(file);
    expect(blake2b512).toBe(
      "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923",
    );
    expect(sha256).toBe(createHash("sha256").update("abc").digest("hex"));
  });

  it("rejects malformed tables naming the field", async () => {
    const good = table[0] as PublishedPtau;
    expect(() => assertPtauTable([{ ...good, power: 0 }])).toThrow(/table\[0\]\.power/);
    expect(() => assertPtauTable([{ ...good, file: "../x.ptau" }])).toThrow(/table\[0\]\.file/);
    expect(() => assertPtauTable([good, { ...good, blake2b512: good.blake2b512.toUpperCase() }])).toThrow(
      /table\[1\]\.blake2b512/,
    );
  });
});

describe("checkCeremonyPtau", () => {
  it("accepts a file whose hash is in the table", async () => {
    const check = await checkCeremonyPtau(ptauPath, { table });
    expect(check).toMatchObject({ power: 5, trusted: true, published: table[0] });
  });

  it("refuses a file with one byte flipped, as altered when it carries a published name", async () => {
    const altered = await flippedCopy(PTAU_NAME);
    const err = await checkCeremonyPtau(altered, { table }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UntrustedPtauError);
    expect((err as UntrustedPtauError).reason).toBe("altered");
    expect((err as Error).message).toMatch(/named like the published .* differs/);
  });

  it("refuses an unknown file (and our test file against the real Hermez table)", async () => {
    const renamed = await flippedCopy("mine.ptau");
    await expect(checkCeremonyPtau(renamed, { table })).rejects.toMatchObject({ reason: "unknown" });
    await expect(checkCeremonyPtau(ptauPath)).rejects.toThrow(/not a published ceremony file/);
  });

  it("refuses a table entry whose power disagrees with the file header", async () => {
    await expect(
      checkCeremonyPtau(ptauPath, { table: [{ ...(table[0] as PublishedPtau), power: 9 }] }),
    ).rejects.toThrow(SetupError);
  });

  it("accepts an unknown file only with the override, loudly", async () => {
    const lines: string[] = [];
    const check = await checkCeremonyPtau(ptauPath, { allowUnknownPtau: true, warn: (l) => lines.push(l) });
    expect(check.trusted).toBe(false);
    expect(check.untrustedReason).toMatch(/not a published/);
    expect(lines.join("\n")).toMatch(/WARNING.*INSECURE/s);
  });

  it("refuses a missing file (file_not_found, a usage mistake) and a non-ptau file", async () => {
    const missing = path.join(tmp, "nope.ptau");
    await expect(checkCeremonyPtau(missing, { table })).rejects.toMatchObject({
      code: "file_not_found",
      message: `ptau ${missing} does not exist`,
    });
    const junk = path.join(tmp, "junk.ptau");
    await writeFile(junk, "not a ptau file at all");
    await expect(checkCeremonyPtau(junk, { table })).rejects.toThrow(TypeError);
  });
});

describe("setupWithCeremonyPtau", () => {
  it("sets up against a published ptau and pins its hash", async () => {
    const keysDir = path.join(tmp, "keys-trusted");
    const result = await setupWithCeremonyPtau(ptauPath, [FIXTURE], { keysDir, buildDir, table });
    const manifest = await readKeysManifest(keysDir);
    const { sha256, blake2b512 } = await hashPtauFile(ptauPath);
    expect(manifest).toMatchObject({ insecure: false, ptau: { power: 5, sha256, insecure: false } });
    const record = JSON.parse(await readFile(path.join(keysDir, PTAU_RECORD_FILE), "utf8"));
    expect(record).toMatchObject({
      file: PTAU_NAME,
      sha256,
      blake2b512,
      trusted: true,
      published: PTAU_NAME,
    });
    const [circuit] = result.circuits;
    await expect(
      checkPinned(keysDir, "ceremony_power", { zkeyPath: circuit?.keys.zkeyPath, vkey: circuit?.vkey }),
    ).resolves.toBeDefined();
  });

  it("writes nothing for a refused ptau", async () => {
    const keysDir = path.join(tmp, "keys-refused");
    const altered = await flippedCopy(PTAU_NAME);
    await expect(setupWithCeremonyPtau(altered, [FIXTURE], { keysDir, buildDir, table })).rejects.toThrow(
      UntrustedPtauError,
    );
    expect(await readKeysManifest(keysDir)).toBeUndefined();
  });

  it("records an override: manifest insecure, ptau.json untrusted with the reason", async () => {
    const keysDir = path.join(tmp, "keys-override");
    await setupWithCeremonyPtau(ptauPath, [FIXTURE], {
      keysDir,
      buildDir,
      allowUnknownPtau: true,
      warn: () => {},
    });
    expect(await readKeysManifest(keysDir)).toMatchObject({ insecure: true, ptau: { insecure: true } });
    const record = JSON.parse(await readFile(path.join(keysDir, PTAU_RECORD_FILE), "utf8"));
    expect(record).toMatchObject({ trusted: false, published: null });
    expect(record.untrustedReason).toMatch(/not a published/);
  });

  it("refuses to re-pin keys of another ptau without replace", async () => {
    const keysDir = path.join(tmp, "keys-trusted");
    const other = await flippedCopy("other.ptau");
    await expect(
      setupWithCeremonyPtau(other, [FIXTURE], { keysDir, buildDir, allowUnknownPtau: true, warn: () => {} }),
    ).rejects.toThrow(/pinned ptau/);
  });
});

describe("zktally setup (command module)", () => {
  async function run(args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const o = vi.spyOn(process.stdout, "write").mockImplementation((c) => out.push(String(c)) > 0);
    const e = vi.spyOn(process.stderr, "write").mockImplementation((c) => err.push(String(c)) > 0);
    const saved = process.env[BUILD_DIR_ENV];
    process.env[BUILD_DIR_ENV] = buildDir;
    try {
      return { status: await setupCommand.run(args), stdout: out.join(""), stderr: err.join("") };
    } finally {
      o.mockRestore();
      e.mockRestore();
      if (saved === undefined) delete process.env[BUILD_DIR_ENV];
      else process.env[BUILD_DIR_ENV] = saved;
    }
  }

  it("refuses a file that is not published (exit 1) and accepts it with --allow-unknown-ptau", async () => {
    const keysDir = path.join(tmp, "keys-cli");
    const base = ["--ptau", ptauPath, "--keys", keysDir, "--circuit", FIXTURE];
    const refused = await run(base);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/REFUSED: .*not a published ceremony file/);
    expect(await readKeysManifest(keysDir)).toBeUndefined();
    const accepted = await run([...base, "--allow-unknown-ptau"]);
    expect(accepted.status, accepted.stderr).toBe(0);
    expect(accepted.stdout).toMatch(/INSECURE/);
    expect(accepted.stderr).toMatch(/WARNING/);
    expect((await readKeysManifest(keysDir))?.insecure).toBe(true);
  });
});
