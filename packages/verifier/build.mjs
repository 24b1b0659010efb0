#!/usr/bin/env node
/**
 * @module packages/verifier/build
 *
 * Builds the `@zktally/verifier` package from the repository's sources (src/verifier and the browser-safe
 * modules it imports; the sources stay in src/, this package only holds their build):
 * - `dist/index.js`: one ES module for Node.js 20+ and bundlers, with `@noble/curves`, `@noble/hashes` and
 *   `zod` left as imports (the package's only dependencies);
 * - `dist/zktally-verifier.browser.js`: one self-contained, minified ES module for browsers;
 * - `dist/types/`: the TypeScript declarations (`tsc --emitDeclarationOnly`), pruned to the files the entry's
 *   declarations reach.
 * The build fails when either bundle imports anything else (a Node.js built-in, operator code, another
 * package). `node build.mjs` skips the work when `dist/.build-stamp` matches the inputs' fingerprint;
 * `--force` rebuilds.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(PACKAGE_DIR, "../..");
const DIST = join(PACKAGE_DIR, "dist");
const ENTRY = join(REPO_ROOT, "src/verifier/index.ts");
const STAMP = join(DIST, ".build-stamp");
/** Imports the Node.js bundle may keep (the package's dependencies). */
const ALLOWED_EXTERNAL = /^(@noble\/curves\/|@noble\/hashes\/|zod$)/;
const require = createRequire(import.meta.url);

/** Every file under `dir` whose name matches `pattern`, sorted. */
export function filesUnder(dir, pattern) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...filesUnder(path, pattern));
    else if (pattern.test(entry.name)) found.push(path);
  }
  return found.sort();
}

/** SHA-256 over the names and contents of `files` (paths relative to the repository root). */
export function fingerprint(files) {
  const hash = createHash("sha256");
  for (const file of files) {
    hash.update(`${relative(REPO_ROOT, file)}\0`);
    hash.update(readFileSync(file));
    hash.update("\0");
  }
  return hash.digest("hex");
}

function inputs() {
  return [
    ...filesUnder(join(REPO_ROOT, "src"), /\.(ts|mts)$/),
    join(REPO_ROOT, "tsconfig.json"),
    join(PACKAGE_DIR, "tsconfig.json"),
    join(PACKAGE_DIR, "package.json"),
    fileURLToPath(import.meta.url),
  ];
}

/** Fails when a bundle imports anything but the allowed externals. */
function checkImports(metafile, allowed, what) {
  const bad = Object.values(metafile.outputs)
    .flatMap((output) => output.imports)
    .filter((entry) => entry.external && !allowed.test(entry.path))
    .map((entry) => entry.path);
  if (bad.length > 0) throw new Error(`${what} imports ${[...new Set(bad)].join(", ")}; it may not`);
}

async function bundles() {
  const { build } = await import("esbuild");
  const common = { entryPoints: [ENTRY], bundle: true, format: "esm", target: "es2022", metafile: true };
  const node = await build({
    ...common,
    platform: "neutral",
    outfile: join(DIST, "index.js"),
    external: ["@noble/curves", "@noble/hashes", "zod"],
    banner: { js: "// @zktally/verifier: built from zktally's src/verifier by packages/verifier/build.mjs" },
    logLevel: "warning",
  });
  checkImports(node.metafile, ALLOWED_EXTERNAL, "dist/index.js");
  const browser = await build({
    ...common,
    platform: "browser",
    minify: true,
    outfile: join(DIST, "zktally-verifier.browser.js"),
    logLevel: "warning",
  });
  checkImports(browser.metafile, /^$/, "dist/zktally-verifier.browser.js");
}

/** The declaration files `entry` reaches through relative imports. */
function reachedDeclarations(entry) {
  const reached = new Set();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop();
    if (reached.has(file) || !existsSync(file)) continue;
    reached.add(file);
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
      pending.push(join(dirname(file), match[1].replace(/\.(ts|js)$/, ".d.ts")));
    }
  }
  return reached;
}

function declarations() {
  const tsc = require.resolve("typescript/bin/tsc");
  const run = spawnSync(process.execPath, [tsc, "-p", join(PACKAGE_DIR, "tsconfig.json")], {
    stdio: "inherit",
  });
  if (run.status !== 0) throw new Error(`tsc failed (exit ${run.status}) building the declarations`);
  const typesDir = join(DIST, "types");
  const keep = reachedDeclarations(join(typesDir, "verifier/index.d.ts"));
  for (const file of filesUnder(typesDir, /\.d\.ts$/)) if (!keep.has(file)) rmSync(file);
}

/** Builds the package unless its stamp is current; returns whether it built. */
export async function buildVerifierPackage({ force = false } = {}) {
  const stamp = fingerprint(inputs());
  if (!force && existsSync(STAMP) && readFileSync(STAMP, "utf8") === stamp) return false;
  rmSync(DIST, { recursive: true, force: true });
  mkdirSync(DIST, { recursive: true });
  await bundles();
  declarations();
  writeFileSync(STAMP, stamp);
  return true;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const built = await buildVerifierPackage({ force: process.argv.includes("--force") });
  process.stderr.write(
    `@zktally/verifier: ${built ? "built" : "up to date"} (${relative(process.cwd(), DIST) || "."})\n`,
  );
}
