import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Proving and setup are CPU-bound; the global setup builds keys once per run.
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    pool: "forks",
    // Vitest's default on 2 cores is one worker (cores - 1), which left a core idle while a test waited on
    // its prover and service child processes: the suite took 31 min cold. Two workers share the 2 cores.
    maxWorkers: 2,
  },
});
