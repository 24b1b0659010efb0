/**
 * @module test/helpers/native
 *
 * Builds (once per test file, a no-op when up to date) and runs the native prover binary for the tests.
 * A build failure fails the test that needs the binary: the fallback path has its own test.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
// @ts-expect-error plain JavaScript build script (no declarations)
import { buildNativeProver, PROVER_BINARY } from "../../native/build.mjs";

const run = promisify(execFile);

export interface NativeBuild {
  readonly ok: boolean;
  readonly path: string;
  readonly message: string;
}

/** Builds the binary (or the ASan/UBSan one with ZKTALLY_TEST_SANITIZED=1) and returns its path. */
export function nativeBinary(): string {
  const sanitize = process.env.ZKTALLY_TEST_SANITIZED === "1";
  const build = buildNativeProver({ sanitize }) as NativeBuild;
  if (!build.ok) throw new Error(`native prover build failed: ${build.message}`);
  return sanitize ? build.path : (PROVER_BINARY as string);
}

/** Runs the binary; resolves with the parsed JSON line and the exit code (non-zero exits do not throw). */
export async function runNative(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; json: Record<string, unknown> }> {
  try {
    const { stdout } = await run(nativeBinary(), args, {
      maxBuffer: 64 << 20,
      env: { ...process.env, ...env },
    });
    return { code: 0, json: JSON.parse(stdout) };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== "number" || !e.stdout) throw err;
    return { code: e.code, json: JSON.parse(e.stdout) };
  }
}
