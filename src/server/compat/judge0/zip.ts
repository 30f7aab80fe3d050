import { crc32, inflateRawSync } from 'node:zlib';
import { FILE_NAME_RE } from '../../../judge/spec.js';

export interface ZipEntry {
  name: string;
  content: Buffer;
}

export interface ZipLimits {
  /** All entries together, uncompressed (Judge0's MAX_EXTRACT_SIZE). */
  maxBytes: number;
  maxEntries: number;
}

/** Why an archive is refused; the message is shown to the client. */
export class ZipError extends Error {}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/**
 * The files of a Judge0 `additional_files` zip, read on the host without unzip: only what a flat
 * archive of plain files needs (stored or deflated entries; no zip64, no encryption, no
 * directories, no links). Every size is checked before it is trusted: the total is capped before
 * inflating, inflating never makes more than the entry declared, and each entry's CRC must match.
 * Nothing here touches the file system; the entries become the judge job's files.
 */
export function readZip(zip: Buffer, limits: ZipLimits): ZipEntry[] {
  const end = findEnd(zip);
  const count = zip.readUInt16LE(end + 10);
  const cdSize = zip.readUInt32LE(end + 12);
  const cdOffset = zip.readUInt32LE(end + 16);
  if (zip.readUInt16LE(end + 4) !== 0 || zip.readUInt16LE(end + 8) !== count) throw new ZipError('multi-part archives are not supported');
  if (count === 0xffff || cdOffset === 0xffffffff) throw new ZipError('zip64 archives are not supported');
  if (cdOffset + cdSize > end) throw new ZipError('is not a valid zip archive (central directory out of bounds)');
  if (count > limits.maxEntries) throw new ZipError(`has ${count} entries, more than the ${limits.maxEntries} allowed`);

  const entries: ZipEntry[] = [];
  const names = new Set<string>();
  let total = 0;
  let at = cdOffset;
  for (let i = 0; i < count; i++) {
    need(zip, at, 46, cdOffset + cdSize);
    if (zip.readUInt32LE(at) !== CENTRAL) throw new ZipError('is not a valid zip archive (bad central directory)');
    const flags = zip.readUInt16LE(at + 8);
    const method = zip.readUInt16LE(at + 10);
    const crc = zip.readUInt32LE(at + 16);
    const packed = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLen = zip.readUInt16LE(at + 28);
    const skip = nameLen + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    const madeOnUnix = zip.readUInt8(at + 5) === 3;
    const mode = zip.readUInt32LE(at + 38) >>> 16;
    const local = zip.readUInt32LE(at + 42);
    need(zip, at + 46, nameLen, cdOffset + cdSize);
    const name = zip.toString('latin1', at + 46, at + 46 + nameLen);
    at += 46 + skip;

    if (name.includes('/') || name.includes('\\')) throw new ZipError(`entries in directories are not supported (${shown(name)}): put every file at the top of the archive`);
    if (!FILE_NAME_RE.test(name)) throw new ZipError(`${shown(name)} is not a plain file name (letters, digits, _ . + -)`);
    if (madeOnUnix && (mode & S_IFMT) !== 0 && (mode & S_IFMT) !== S_IFREG) throw new ZipError(`${shown(name)} is not a regular file (links are not supported)`);
    if (flags & 0x1) throw new ZipError(`${shown(name)} is encrypted`);
    if (method !== 0 && method !== 8) throw new ZipError(`${shown(name)} uses compression method ${method} (only stored and deflated are supported)`);
    if (names.has(name)) throw new ZipError(`${shown(name)} is in the archive twice`);
    names.add(name);
    total += size;
    if (total > limits.maxBytes) throw new ZipError(`unpacks to more than ${limits.maxBytes} bytes`);

    need(zip, local, 30, cdOffset);
    if (zip.readUInt32LE(local) !== LOCAL) throw new ZipError(`is not a valid zip archive (bad local header for ${shown(name)})`);
    const dataAt = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    need(zip, dataAt, packed, cdOffset);
    const data = zip.subarray(dataAt, dataAt + packed);
    const content = method === 0 ? Buffer.from(data) : inflate(data, size, name);
    if (content.length !== size || crc32(content) !== crc) throw new ZipError(`${shown(name)} is corrupt (size or CRC does not match)`);
    entries.push({ name, content });
  }
  return entries;
}

function inflate(data: Buffer, size: number, name: string): Buffer {
  try {
    // Never more than the entry says it holds: a bomb stops here, not in memory.
    return inflateRawSync(data, { maxOutputLength: Math.max(1, size) });
  } catch {
    throw new ZipError(`${shown(name)} is corrupt (does not inflate to its declared size)`);
  }
}

/** The end-of-central-directory record: the last 22 bytes, or before a comment of up to 64 KiB. */
function findEnd(zip: Buffer): number {
  for (let at = zip.length - 22; at >= Math.max(0, zip.length - 22 - 0xffff); at--) {
    if (zip.readUInt32LE(at) === EOCD && at + 22 + zip.readUInt16LE(at + 20) === zip.length) return at;
  }
  throw new ZipError('is not a zip archive');
}

function need(zip: Buffer, at: number, length: number, limit: number): void {
  if (at < 0 || at + length > Math.min(limit, zip.length)) throw new ZipError('is not a valid zip archive (truncated)');
}

const shown = (name: string) => JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}…` : name);
