/**
 * @module setup/binary-reader
 *
 * Reads the iden3 binary container shared by r1cs, ptau, zkey and wtns files: 4-byte magic, u32 version,
 * u32 nSections, then sections (u32 type, u64 size, body). Sections are read with positional reads, so
 * multi-GB files are never loaded whole.
 *
 * Security caveat: every read is bounds-checked against the file size and each section against `maxBytes`,
 * so a hostile file cannot make the reader allocate more than the caller allows; the section's content is
 * the caller's to validate.
 */

import { open } from "node:fs/promises";

/** Reads the body of the first section of type `sectionType`; throws on a wrong magic, truncation or size. */
export async function readBinSection(
  filePath: string,
  magic: string,
  sectionType: number,
  maxBytes = 1 << 20,
): Promise<Buffer> {
  const fh = await open(filePath, "r");
  try {
    const size = (await fh.stat()).size;
    const read = async (position: number, length: number): Promise<Buffer> => {
      if (position + length > size) throw new TypeError(`${filePath}: truncated ${magic} file`);
      const buf = Buffer.alloc(length);
      await fh.read(buf, 0, length, position);
      return buf;
    };
    const top = await read(0, 12);
    if (top.toString("latin1", 0, 4) !== magic) throw new TypeError(`${filePath}: not a ${magic} file`);
    let position = 12;
    for (let s = 0; s < top.readUInt32LE(8); s++) {
      const head = await read(position, 12);
      const length = Number(head.readBigUInt64LE(4));
      if (head.readUInt32LE(0) === sectionType) {
        if (length > maxBytes) throw new RangeError(`${filePath}: section ${sectionType} is ${length} bytes`);
        return read(position + 12, length);
      }
      position += 12 + length;
    }
    throw new TypeError(`${filePath}: ${magic} section ${sectionType} missing`);
  } finally {
    await fh.close();
  }
}

/** Little-endian unsigned integer of `length` bytes at `offset`. */
export function readUintLE(buf: Buffer, offset: number, length: number): bigint {
  let value = 0n;
  for (let i = length - 1; i >= 0; i--) value = (value << 8n) | BigInt(buf[offset + i] as number);
  return value;
}
