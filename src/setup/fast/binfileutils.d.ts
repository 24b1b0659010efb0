/**
 * @module setup/fast/binfileutils
 *
 * Minimal declarations for `@iden3/binfileutils` 0.0.12 (the iden3 binary container snarkjs writes ptau,
 * r1cs and zkey files with) and the fastfile handles it returns. Only what the fast setup uses.
 * Caveat: fastfile's `read`/`write` with an explicit position also move `pos` to the end of that range.
 */
declare module "@iden3/binfileutils" {
  export interface BinFileHandle {
    pos: number;
    readonly fileName: string;
    read(length: number, position?: number): Promise<Uint8Array>;
    write(data: Uint8Array, position?: number): Promise<void>;
    readULE32(position?: number): Promise<number>;
    readULE64(position?: number): Promise<number>;
    writeULE32(value: number, position?: number): Promise<void>;
    writeULE64(value: number, position?: number): Promise<void>;
    close(): Promise<void>;
  }

  /** sections[id] lists every section of that type: body position and size in bytes. */
  export type BinSections = ({ p: number; size: number }[] | undefined)[];

  export function readBinFile(
    fileName: string,
    type: string,
    maxVersion: number,
    cacheSize?: number,
    pageSize?: number,
  ): Promise<{ fd: BinFileHandle; sections: BinSections }>;
  export function createBinFile(
    fileName: string,
    type: string,
    version: number,
    nSections: number,
    cacheSize?: number,
    pageSize?: number,
  ): Promise<BinFileHandle>;
  export function startWriteSection(fd: BinFileHandle, idSection: number): Promise<void>;
  export function endWriteSection(fd: BinFileHandle): Promise<void>;
  export function readSection(
    fd: BinFileHandle,
    sections: BinSections,
    idSection: number,
    offset?: number,
    length?: number,
  ): Promise<Uint8Array>;
}
