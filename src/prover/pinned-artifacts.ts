/**
 * @module prover/pinned-artifacts
 *
 * The one pinned load of a circuit's proving artifacts, shared by every `ProverBackend`: the zkey and the
 * witness-generator wasm are found (by default in the setup cache), read ONCE into memory, and checked against
 * the SHA-256 pins of the keys manifest before any backend may prove with them.
 *
 * Security caveats: a backend must prove only with bytes returned here (checked after reading, so a file
 * swapped between check and use cannot slip in); a failed load (missing file, pin mismatch) is not cached, so
 * a repaired key is picked up by the next call.
 */
import { readFile } from "node:fs/promises";
import { assertDigest, type KeysManifest, type PinnedCircuit, pinnedEntry } from "../setup/keys-manifest.ts";
import {
  assertCircuitId,
  compiledArtifactPaths,
  compiledCircuitDir,
  zkeyArtifactPaths,
  zkeyDir,
} from "../setup/paths.ts";
import { sha256HexNative } from "../storage/file-digest.ts";

/** Where a circuit's zkey and wasm live on disk. */
export interface CircuitArtifacts {
  readonly zkeyPath: string;
  readonly wasmPath: string;
}

/** Maps a pinned circuit to its artifact files. */
export type ArtifactResolver = (
  id: string,
  entry: PinnedCircuit,
  manifest: KeysManifest,
) => CircuitArtifacts | Promise<CircuitArtifacts>;

/** A circuit's proving artifacts, in memory and checked against their pins. */
export interface PinnedArtifacts {
  readonly zkey: Uint8Array;
  readonly wasm: Uint8Array;
  /** Public signal count of the pinned key: every proof must carry exactly this many. */
  readonly nPublic: number;
}

export interface PinnedArtifactOptions {
  /** Directory holding the keys manifest the artifacts are checked against. */
  readonly keysDir: string;
  /** Cache root used by the default resolver; default `ZKTALLY_BUILD_DIR` or `<repo>/build`. */
  readonly buildDir?: string;
  /** Overrides where artifacts are found; default: the setup cache paths derived from the manifest entry. */
  readonly resolveArtifacts?: ArtifactResolver;
}

/** The default artifact locations: the compile cache and the phase-2 cache of `src/setup`. */
export function setupCacheArtifacts(buildDir?: string): ArtifactResolver {
  return (id, entry, manifest) => ({
    zkeyPath: zkeyArtifactPaths(zkeyDir(id, entry.sourceHash, manifest.ptau.sha256, buildDir)).zkey,
    wasmPath: compiledArtifactPaths(compiledCircuitDir(id, entry.sourceHash, buildDir), id).wasm,
  });
}

/** Reads a circuit's zkey and wasm and checks them against the keys manifest in `keysDir`. */
export async function readPinnedArtifacts(
  keysDir: string,
  circuitId: string,
  resolveArtifacts: ArtifactResolver,
): Promise<PinnedArtifacts> {
  const { entry, zkeyPath, wasmPath } = await locatePinnedArtifacts(keysDir, circuitId, resolveArtifacts);
  const [zkey, wasm] = await Promise.all([readPlainBytes(zkeyPath), readPlainBytes(wasmPath)]);
  assertDigest(circuitId, "zkey", entry.zkeySha256, sha256HexNative(zkey));
  assertDigest(circuitId, "wasm", entry.wasmSha256, sha256HexNative(wasm));
  return { zkey, wasm, nPublic: entry.nPublic };
}

/** A circuit's keys-manifest entry and the artifact files it pins (nothing read yet). */
export interface LocatedArtifacts extends CircuitArtifacts {
  readonly entry: PinnedCircuit;
}

/** Looks up a circuit in the keys manifest in `keysDir` and resolves where its artifacts live. */
export async function locatePinnedArtifacts(
  keysDir: string,
  circuitId: string,
  resolveArtifacts: ArtifactResolver,
): Promise<LocatedArtifacts> {
  const { manifest, entry } = await pinnedEntry(keysDir, circuitId);
  const { zkeyPath, wasmPath } = await resolveArtifacts(circuitId, entry, manifest);
  return { entry, zkeyPath, wasmPath };
}

/** Reads a circuit's witness-generator wasm alone (for backends whose key is read elsewhere), pin-checked. */
export async function readPinnedWasm(circuitId: string, located: LocatedArtifacts): Promise<Uint8Array> {
  const wasm = await readPlainBytes(located.wasmPath);
  assertDigest(circuitId, "wasm", located.entry.wasmSha256, sha256HexNative(wasm));
  return wasm;
}

/**
 * Pinned artifacts per circuit, each read once; concurrent callers share one load and a failed load is
 * forgotten so the next call retries.
 */
export class PinnedArtifactCache {
  /** Circuits read from disk and hash-checked. */
  loads = 0;
  private readonly circuits = new Map<string, Promise<PinnedArtifacts>>();
  private readonly resolveArtifacts: ArtifactResolver;

  constructor(
    private readonly options: PinnedArtifactOptions,
    owner: string,
  ) {
    if (typeof options?.keysDir !== "string" || options.keysDir === "") {
      throw new TypeError(`${owner}: options.keysDir must be a non-empty path`);
    }
    this.resolveArtifacts = options.resolveArtifacts ?? setupCacheArtifacts(options.buildDir);
  }

  get(circuitId: string): Promise<PinnedArtifacts> {
    assertCircuitId(circuitId);
    let circuit = this.circuits.get(circuitId);
    if (!circuit) {
      circuit = readPinnedArtifacts(this.options.keysDir, circuitId, this.resolveArtifacts).then((loaded) => {
        this.loads++;
        return loaded;
      });
      this.circuits.set(circuitId, circuit);
      circuit.catch(() => this.circuits.delete(circuitId));
    }
    return circuit;
  }

  /** Drops the bytes held in memory. */
  clear(): void {
    this.circuits.clear();
  }
}

/** A plain Uint8Array over the file bytes (Buffer#slice shares memory; fastfile expects copying slices). */
async function readPlainBytes(filePath: string): Promise<Uint8Array> {
  const buf = await readFile(filePath);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
