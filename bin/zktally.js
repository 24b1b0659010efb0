#!/usr/bin/env node
// The `zktally` command: runs the compiled CLI (dist/, built by `npm run build`, which `npm ci` and
// `npm install` run through `prepare`). No TypeScript loader at run time.
import { existsSync } from "node:fs";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    "zktally: the compiled CLI (dist/) is missing; run `npm run build` in the package first\n",
  );
  process.exit(70);
}
await import(main.href);
