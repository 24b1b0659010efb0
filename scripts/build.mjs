#!/usr/bin/env node
/**
 * @module scripts/build
 *
 * `npm run build` (also run by `prepare`, so `npm ci` / `npm install` in a clone build it): compiles the
 * operator package's TypeScript (src/) to ES modules with declarations in dist/ (`tsc -p
 * tsconfig.build.json`; relative `.ts` imports become `.js`), copies the plain `.mjs` modules and their
 * `.d.mts` types next to them, writes the browser verification page as one static file
 * (dist/verify-page.html, src/service/verify-page-build.mjs), then builds the `@zktally/verifier` package (packages/verifier/build.mjs).
 * `bin/zktally.js` runs dist/cli/main.js, so the installed CLI needs no TypeScript loader; `npm start`,
 * `npm test` and the `tsx` scripts keep running from the sources. Each part is skipped when its
 * `.build-stamp` matches the fingerprint of its inputs; `--force` rebuilds.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildVerifierPackage, filesUnder, fingerprint } from "../packages/verifier/build.mjs";
import { buildVerifyPage } from "../src/service/verify-page-build.mjs";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SRC = join(REPO_ROOT, "src");
const DIST = join(REPO_ROOT, "dist");
const STAMP = join(DIST, ".build-stamp");
const require = createRequire(import.meta.url);

function inputs() {
  return [
    ...filesUnder(SRC, /\.(ts|mts|mjs|html)$/),
    join(REPO_ROOT, "tsconfig.json"),
    join(REPO_ROOT, "tsconfig.build.json"),
    fileURLToPath(import.meta.url),
  ];
}

/** Builds dist/ unless its stamp is current; returns whether it built. */
export async function buildOperatorDist({ force = false } = {}) {
  const stamp = fingerprint(inputs());
  if (!force && existsSync(STAMP) && readFileSync(STAMP, "utf8") === stamp) return false;
  rmSync(DIST, { recursive: true, force: true });
  const tsc = require.resolve("typescript/bin/tsc");
  const run = spawnSync(process.execPath, [tsc, "-p", join(REPO_ROOT, "tsconfig.build.json")], {
    stdio: "inherit",
  });
  if (run.status !== 0) throw new Error(`tsc failed (exit ${run.status}) compiling src/ to dist/`);
  for (const file of filesUnder(SRC, /\.(mjs|d\.mts)$/)) {
    const target = join(DIST, relative(SRC, file));
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(file, target);
  }
  writeFileSync(join(DIST, "verify-page.html"), await buildVerifyPage());
  writeFileSync(STAMP, stamp);
  return true;
}

/** Builds both packages; returns what was rebuilt. */
export async function buildAll({ force = false } = {}) {
  const operator = await buildOperatorDist({ force });
  const verifier = await buildVerifierPackage({ force });
  return { operator, verifier };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  const built = await buildAll({ force: process.argv.includes("--force") });
  const said = (name, done) => `${name} ${done ? "built" : "up to date"}`;
  process.stderr.write(
    `zktally: ${said("dist/", built.operator)}, ${said("@zktally/verifier", built.verifier)} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
  );
}
