/**
 * @module native/build
 *
 * Builds the native Groth16 prover (native/prover/*.cpp -> native/build/zktally-prover) with the machine's
 * g++. Run by the package's `install` script (`npm install` / `npm ci`) and by the tests before they use
 * the binary. Never fails the install: when g++ is missing or the compile fails, it prints ONE line saying
 * so and exits 0; the prover then reports itself unavailable and zktally proves with snarkjs.
 *
 * Flags: -O3 -std=c++17 -pthread, plus -march=x86-64-v3 when the CPU reports AVX2 and BMI2, else
 * -march=x86-64-v2, plus -mbmi2 -madx when it reports ADX (the mulx/adcx/adox assembly Montgomery
 * multiplication of field.hpp, measured 2x faster than the portable C one); non-x86: compiler default.
 * The binary is rebuilt only when the sources or flags change (a stamp file holds their SHA-256).
 * `ZKTALLY_NATIVE_SANITIZE=1` builds zktally-prover-asan with AddressSanitizer and UBSan instead; `ZKTALLY_SKIP_NATIVE=1` skips the build.
 *
 * Plain JavaScript: it runs before TypeScript tooling is guaranteed to be installed.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { arch } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const SOURCES = join(HERE, "prover");
export const BUILD_DIR = join(HERE, "build");
export const PROVER_BINARY = join(BUILD_DIR, "zktally-prover");
export const SANITIZED_BINARY = join(BUILD_DIR, "zktally-prover-asan");

function cpuFlags() {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8").match(/^flags\s*:(.*)$/m);
    return new Set((line?.[1] ?? "").trim().split(/\s+/));
  } catch {
    return new Set();
  }
}

/** -march for this machine (see the module comment). */
export function marchFlags() {
  if (arch() !== "x64") return [];
  const flags = cpuFlags();
  const march = ["avx2", "bmi2"].every((f) => flags.has(f)) ? "-march=x86-64-v3" : "-march=x86-64-v2";
  // mulx (BMI2) + adcx/adox (ADX) enable the assembly Montgomery multiplication in field.hpp.
  return flags.has("adx") && flags.has("bmi2") ? [march, "-mbmi2", "-madx"] : [march];
}

/**
 * Compiles the prover unless an up-to-date binary exists. Returns {ok, path, message}; never throws.
 * @param {{sanitize?: boolean, quiet?: boolean}} [options]
 */
export function buildNativeProver(options = {}) {
  const sanitize = options.sanitize === true;
  const out = sanitize ? SANITIZED_BINARY : PROVER_BINARY;
  const flags = sanitize
    ? ["-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"].concat(
        marchFlags(), // the same code paths as the release build (assembly multiplication included)
      )
    : ["-O3", ...marchFlags()];
  const args = [...flags, "-std=c++17", "-pthread", "-Wall", "-Wextra", "-o", `${out}.tmp`, join(SOURCES, "main.cpp")];
  const compiler = process.env.CXX || "g++";
  try {
    const files = readdirSync(SOURCES).filter((f) => /\.(cpp|hpp)$/.test(f)).sort();
    const hash = createHash("sha256").update(JSON.stringify(args));
    for (const f of files) hash.update(f).update(readFileSync(join(SOURCES, f)));
    const stamp = `${hash.digest("hex")}\n`;
    const stampFile = `${out}.stamp`;
    if (existsSync(out) && existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) {
      return { ok: true, path: out, message: "up to date" };
    }
    mkdirSync(BUILD_DIR, { recursive: true });
    execFileSync(compiler, args, { stdio: ["ignore", "ignore", "pipe"], timeout: 600_000 });
    renameSync(`${out}.tmp`, out);
    writeFileSync(stampFile, stamp);
    return { ok: true, path: out, message: `built with ${flags.join(" ")}` };
  } catch (err) {
    const stderr = String(err?.stderr ?? "").trim().split("\n")[0] ?? "";
    const reason =
      err?.code === "ENOENT" ? `${compiler} not found` : stderr || String(err?.message ?? err).split("\n")[0];
    return { ok: false, path: out, message: reason };
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.env.ZKTALLY_SKIP_NATIVE === "1") {
    console.log("zktally: native prover build skipped (ZKTALLY_SKIP_NATIVE=1); proofs will use snarkjs");
  } else {
    const sanitize = process.env.ZKTALLY_NATIVE_SANITIZE === "1";
    const result = buildNativeProver({ sanitize });
    console.log(
      result.ok
        ? `zktally: native prover ready at ${result.path} (${result.message})`
        : `zktally: native prover NOT built (${result.message}); proofs will use snarkjs`,
    );
  }
}
