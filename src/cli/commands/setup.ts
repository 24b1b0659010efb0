/**
 * @module cli/commands/setup
 *
 * `zktally setup --ptau FILE [--allow-unknown-ptau]`: sets up the default circuits (or `--circuit` ones)
 * against a production powers-of-tau file identified by its published BLAKE2b-512 hash, and pins the keys
 * (see setup/ceremony-ptau.ts). An unknown or altered ptau is refused (exit 1) unless overridden; an override
 * marks the keys manifest `insecure: true`; a ptau too small for an aggregate shape is refused before it is
 * compiled. `zktally setup --dev` builds INSECURE development keys from a development ptau of the power the
 * circuits need (development and tests only). Also exports the circuit-resolution helpers the ceremony and
 * export commands share.
 */
import path from "node:path";
import { parseArgs } from "node:util";
import { shapeFromId } from "../../circuits/shape.ts";
import { DEFAULT_SHAPES, KEYS_DIR } from "../../config/defaults.ts";
import { setupWithCeremonyPtau, UntrustedPtauError } from "../../setup/ceremony-ptau.ts";
import { buildDevKeys } from "../../setup/index.ts";
import { readKeysManifest } from "../../setup/keys-manifest.ts";
import { ensureMainFile } from "../../setup/main-files.ts";
import { REPO_ROOT } from "../../setup/paths.ts";
import { consoleProgress } from "../../util/progress.ts";
import { type Command, UsageError } from "../command.ts";

/**
 * The repo-relative main file of a circuit given as an aggregate circuit id (its main is generated if
 * missing) or as a path to a `.circom` file inside the repository.
 */
export async function circuitMainPath(spec: string): Promise<string> {
  if (spec.endsWith(".circom")) {
    const relative = path.relative(REPO_ROOT, path.resolve(spec));
    if (relative.startsWith("..") || path.isAbsolute(relative)) {
      throw new UsageError(`--circuit ${spec}: circuit sources must be inside the repository ${REPO_ROOT}`);
    }
    return relative.split(path.sep).join("/");
  }
  try {
    return await ensureMainFile(shapeFromId(spec));
  } catch (err) {
    throw new UsageError(
      `--circuit ${spec}: ${(err as Error).message} (give an aggregate id or a .circom path)`,
    );
  }
}

/** Main files of `--circuit` values, or of the default circuits when none is given. */
export async function mainPathsFor(specs: readonly string[] | undefined): Promise<string[]> {
  if (specs && specs.length > 0) return Promise.all(specs.map(circuitMainPath));
  return Promise.all(DEFAULT_SHAPES.map(ensureMainFile));
}

interface SetupReport {
  readonly ptau: { readonly power: number; readonly trusted: boolean; readonly line: string };
  readonly circuits: readonly {
    readonly compiled: { readonly id: string };
    readonly entry: { readonly vkeySha256: string };
  }[];
  readonly keysDir: string;
  readonly insecure: boolean;
  readonly note: string;
}

/** What a setup pinned: lines, or with `--json` one object (ptau, circuits and key hashes, manifest). */
function printSetup(report: SetupReport, json: boolean): number {
  const circuits = report.circuits.map((c) => ({ circuitId: c.compiled.id, vkeySha256: c.entry.vkeySha256 }));
  const manifest = path.join(report.keysDir, "manifest.json");
  if (json) {
    const ptau = { power: report.ptau.power, trusted: report.ptau.trusted };
    process.stdout.write(
      `${JSON.stringify({ ptau, circuits, keysManifest: manifest, insecure: report.insecure })}\n`,
    );
    return 0;
  }
  const lines = [
    report.ptau.line,
    ...circuits.map((c) => `${c.circuitId}: vkey ${c.vkeySha256}`),
    `pinned in ${manifest} (insecure: ${report.insecure})`,
    report.note,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

/**
 * `setup --dev`: INSECURE development keys for the circuits, from a development ptau of the power they need
 * (made once, cached); never into a keys directory that holds production keys.
 */
async function setupDev(
  mains: readonly string[],
  keysDir: string,
  replace: boolean,
  json: boolean,
): Promise<number> {
  const pinned = await readKeysManifest(keysDir);
  if (pinned && !pinned.insecure) {
    throw new UsageError(
      `${keysDir} holds production keys: pass --keys DIR to put development keys elsewhere`,
    );
  }
  const result = await buildDevKeys(mains, { keysDir, replace, progress: consoleProgress({ tag: "setup" }) });
  const line = `ptau: development ptau of power ${result.ptau.power} (INSECURE: its toxic waste is known) ${result.ptau.path}`;
  return printSetup(
    {
      ptau: { power: result.ptau.power, trusted: false, line },
      circuits: result.circuits,
      keysDir,
      insecure: true,
      note: "note: development and tests only: whoever ran this setup can forge proofs.",
    },
    json,
  );
}

export const setupCommand: Command = {
  name: "setup",
  usage: [
    "setup --ptau FILE [--allow-unknown-ptau] [--keys DIR] [--circuit ID ...] [--replace] [--json]   keys from a published ceremony ptau",
    "setup --dev [--keys DIR] [--circuit ID ...] [--replace] [--json]   INSECURE development keys (a development ptau of the power needed)",
  ],
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        ptau: { type: "string" },
        "allow-unknown-ptau": { type: "boolean", default: false },
        keys: { type: "string" },
        circuit: { type: "string", multiple: true },
        replace: { type: "boolean", default: false },
        dev: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
      },
      strict: true,
    });
    if (!values.ptau && !values.dev) {
      throw new UsageError("--ptau FILE is required (or --dev for INSECURE development keys)");
    }
    const keysDir = values.keys ?? KEYS_DIR;
    const mains = await mainPathsFor(values.circuit);
    if (values.dev) return setupDev(mains, keysDir, values.replace, values.json);
    let result: Awaited<ReturnType<typeof setupWithCeremonyPtau>>;
    try {
      result = await setupWithCeremonyPtau(values.ptau as string, mains, {
        keysDir,
        allowUnknownPtau: values["allow-unknown-ptau"],
        replace: values.replace,
        progress: consoleProgress({ tag: "setup" }),
      });
    } catch (err) {
      if (!(err instanceof UntrustedPtauError)) throw err;
      process.stderr.write(`zktally setup: REFUSED: ${err.message}\n`);
      return 1;
    }
    const { ptau } = result;
    const line = ptau.trusted
      ? `ptau: published ${ptau.published?.file} (power ${ptau.power}, blake2b ${ptau.blake2b512.slice(0, 16)}…)`
      : `ptau: NOT a published ceremony file (override): keys are INSECURE`;
    return printSetup(
      {
        ptau: { power: ptau.power, trusted: ptau.trusted, line },
        circuits: result.circuits,
        keysDir,
        insecure: result.manifest.insecure,
        note: "note: phase 2 ran on this machine only; use `zktally ceremony` for a multi-party phase 2.",
      },
      values.json,
    );
  },
};
