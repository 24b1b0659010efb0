/**
 * Main files of circuit shapes (src/setup/main-files.ts, issue 14 point 8): every main committed in
 * circuits/main is exactly what its generator writes (so a clean clone compiles the reviewed sources); a
 * shape the package does not ship gets its main in the build cache and nothing is written under circuits/;
 * that main compiles with the cache outside the repository (templates found through `-l circuits/lib`) and
 * inside it, and from a read-only install with circomlib hoisted next to zktally; a hand-written main outside
 * the repository with a relative include gets an error saying what to do.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  chunkMainSource,
  chunkShapeFromId,
  finalMainSource,
  finalShapeFromId,
} from "../src/circuits/chunk-shape.ts";
import { noisyFinalMainSource, noisyFinalShapeFromId } from "../src/circuits/noise.ts";
import { makeNoisyPassShape, noisyPassFinalMainSource } from "../src/circuits/pass-noise.ts";
import {
  type PassShape,
  passFinalMainSource,
  passMainSource,
  passShapeFromId,
} from "../src/circuits/pass-shape.ts";
import { mainSource, makeShape, shapeFromId } from "../src/circuits/shape.ts";
import { compileCircuit } from "../src/setup/compile.ts";
import {
  ensureChunkMainFile,
  ensureFinalMainFile,
  ensureMainFile,
  ensureNoisyFinalMainFile,
  ensureNoisyPassFinalMainFile,
  ensurePassMainFiles,
} from "../src/setup/main-files.ts";
import { BUILD_DIR_ENV, generatedMainsDir, REPO_ROOT } from "../src/setup/paths.ts";

const SHIPPED_DIR = path.join(REPO_ROOT, "circuits", "main");
const shippedIds = readdirSync(SHIPPED_DIR)
  .filter((name) => name.endsWith(".circom"))
  .map((name) => name.slice(0, -".circom".length));

/** The generator's source for a shipped id. */
function generatedSource(id: string): string | undefined {
  if (id.startsWith("aggregate-")) return mainSource(shapeFromId(id));
  if (id.startsWith("chunk-")) return chunkMainSource(chunkShapeFromId(id));
  if (id.startsWith("chunkfinal-")) return finalMainSource(finalShapeFromId(id));
  if (id.startsWith("chunkfinaldp-")) return noisyFinalMainSource(noisyFinalShapeFromId(id));
  if (id.startsWith("pass-")) return passMainSource(passShapeFromId(id));
  const noisy = /^passfinaldp-(.+)-n(\d+)-j(\d+)$/.exec(id);
  const pass = passShapeWithFinal(noisy ? `passfinal-${noisy[1]}` : id);
  if (pass === undefined) return undefined;
  if (!noisy) return passFinalMainSource(pass);
  const [maxCoins, maxScaleBits] = [Number(noisy[2]), Number(noisy[3])];
  return noisyPassFinalMainSource(makeNoisyPassShape({ pass, maxCoins, maxScaleBits }));
}

/** A pass final's id names only its query side (Q, H, G, C, W, F): any record side with those will do. */
function passShapeWithFinal(finalId: string): PassShape | undefined {
  const match = /^passfinal-(q\d+-h\d+-g\d+)-c(\d+)-w(\d+)-f(\d+)$/.exec(finalId);
  if (!match) return undefined;
  const [, slots, clauses, width, fields] = match;
  const domains = Array.from({ length: Number(fields) }, () => `u${width}`).join(".");
  return passShapeFromId(`pass-${slots}-s16-b1-t1-c${clauses}-m3-kn-${domains}`);
}

/** Every file under circuits/ with its content digest and mtime: what "nothing written" is checked against. */
function circuitsListing(): string[] {
  const root = path.join(REPO_ROOT, "circuits");
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => {
      const file = path.join(entry.parentPath, entry.name);
      const digest = createHash("sha256").update(readFileSync(file)).digest("hex");
      return `${path.relative(root, file)} ${digest} ${statSync(file).mtimeMs}`;
    })
    .sort();
}

/** A small aggregate shape no one ships (8 records, 2 fields of 8 bits, 1 clause). */
const UNSHIPPED = makeShape({
  capacity: 8,
  fields: 2,
  width: 8,
  clauses: 1,
  setSize: 2,
  leafRecords: 2,
  arity: 2,
});

describe("shipped mains", () => {
  it("are exactly what their generators write", () => {
    expect(shippedIds.length).toBeGreaterThan(0);
    for (const id of shippedIds) {
      const committed = readFileSync(path.join(SHIPPED_DIR, `${id}.circom`), "utf8");
      expect(committed, `circuits/main/${id}.circom`).toBe(generatedSource(id));
    }
  });

  it("are used in place when current", async () => {
    const id = shippedIds.find((name) => name.startsWith("aggregate-")) as string;
    expect(await ensureMainFile(shapeFromId(id))).toBe(`circuits/main/${id}.circom`);
  });
});

describe("a shape the package does not ship", () => {
  const saved = process.env[BUILD_DIR_ENV];
  let outside: string;
  let inside: string;

  beforeAll(async () => {
    outside = await mkdtemp(path.join(os.tmpdir(), "zktally-mains-"));
    inside = await mkdtemp(path.join(REPO_ROOT, "build", ".test-mains-"));
  });

  afterAll(async () => {
    if (saved === undefined) delete process.env[BUILD_DIR_ENV];
    else process.env[BUILD_DIR_ENV] = saved;
    await rm(outside, { recursive: true, force: true });
    await rm(inside, { recursive: true, force: true });
  });

  it.each([
    ["outside the repository", () => outside],
    ["inside the repository", () => inside],
  ])("gets its main in the build cache %s, writes nothing under circuits/ and compiles", async (_, dir) => {
    process.env[BUILD_DIR_ENV] = dir();
    const before = circuitsListing();
    const main = await ensureMainFile(UNSHIPPED);
    expect(path.resolve(REPO_ROOT, main)).toBe(
      path.join(generatedMainsDir(), "aggregate-8x2x1-w8-m2-b2-a2.circom"),
    );
    expect(readFileSync(path.resolve(REPO_ROOT, main), "utf8")).toContain('include "aggregate.circom";');
    const compiled = await compileCircuit(main);
    expect(compiled.constraints).toBeGreaterThan(0);
    expect(compiled.sources.map((s) => s.path)).toEqual(
      expect.arrayContaining([
        main,
        "circuits/lib/aggregate.circom",
        "node_modules/circomlib/circuits/poseidon.circom",
      ]),
    );
    expect(await ensureMainFile(UNSHIPPED)).toBe(main);
    expect(circuitsListing()).toEqual(before);
  });

  it("of every kind includes the templates by name (no ../lib include left)", async () => {
    process.env[BUILD_DIR_ENV] = outside;
    const pass = passShapeFromId("pass-q1-h1-g2-s16-b1-t1-c3-m3-kn-u8.u8");
    const mains = [
      await ensureChunkMainFile(pass.chunk),
      await ensureFinalMainFile(finalShapeFromId("chunkfinal-c2-w8")),
      await ensureNoisyFinalMainFile(noisyFinalShapeFromId("chunkfinaldp-c2-w8-n8-j2")),
      ...(await ensurePassMainFiles(pass)),
      await ensureNoisyPassFinalMainFile(makeNoisyPassShape({ pass, maxCoins: 8, maxScaleBits: 2 })),
    ];
    for (const main of mains) {
      const file = path.resolve(REPO_ROOT, main);
      expect(path.dirname(file)).toBe(generatedMainsDir());
      const includes = readFileSync(file, "utf8").match(/^include "[^"]+";$/gm);
      expect(includes, main).toEqual([expect.stringMatching(/^include "[a-z-]+\.circom";$/)]);
    }
  });

  it("refuses a main outside the repository whose relative include circom2 could not open", async () => {
    await writeFile(path.join(outside, "helper.circom"), "pragma circom 2.1.0;\n");
    await writeFile(path.join(outside, "own.circom"), 'pragma circom 2.1.0;\ninclude "helper.circom";\n');
    const main = path.relative(REPO_ROOT, path.join(outside, "own.circom"));
    await expect(compileCircuit(main)).rejects.toMatchObject({
      name: "CompileError",
      line: 2,
      message: expect.stringMatching(
        /outside .*circom2 runs.*include a template of circuits\/lib by its name/,
      ),
    });
  });

  it("compiles from a read-only install, circomlib hoisted next to it, writing only into the build cache", () => {
    const project = path.join(outside, "project");
    const installed = path.join(project, "node_modules", "zktally");
    mkdirSync(installed, { recursive: true });
    for (const part of ["src", "circuits", "package.json"]) {
      cpSync(path.join(REPO_ROOT, part), path.join(installed, part), { recursive: true });
    }
    for (const name of readdirSync(path.join(REPO_ROOT, "node_modules"))) {
      const from = path.join(REPO_ROOT, "node_modules", name);
      const to = path.join(project, "node_modules", name);
      if (name === "circomlib") cpSync(from, to, { recursive: true });
      else if (!name.startsWith(".")) symlinkSync(from, to);
    }
    const script = path.join(project, "compile.mjs");
    writeFileSync(
      script,
      `const { makeShape } = await import("${installed}/src/circuits/shape.ts");
const { ensureMainFile } = await import("${installed}/src/setup/main-files.ts");
const { compileCircuit } = await import("${installed}/src/setup/compile.ts");
const main = await ensureMainFile(makeShape(${JSON.stringify(UNSHIPPED)}));
const { constraints, sources } = await compileCircuit(main);
console.log(JSON.stringify({ main, constraints, sources: sources.map((s) => s.path) }));
`,
    );
    execFileSync("chmod", ["-R", "a-w", installed]);
    try {
      const tsx = path.join(REPO_ROOT, "node_modules/tsx/dist/esm/index.mjs");
      const output = execFileSync(process.execPath, ["--import", tsx, script], {
        cwd: project,
        env: { ...process.env, [BUILD_DIR_ENV]: path.join(project, "build") },
        encoding: "utf8",
      });
      const result = JSON.parse(output.trim().split("\n").at(-1) as string);
      expect(result.main).toBe("../../build/mains/aggregate-8x2x1-w8-m2-b2-a2.circom");
      expect(result.constraints).toBeGreaterThan(0);
      expect(result.sources).toContain("../circomlib/circuits/poseidon.circom");
    } finally {
      execFileSync("chmod", ["-R", "u+w", installed]);
    }
  }, 300_000);
});
