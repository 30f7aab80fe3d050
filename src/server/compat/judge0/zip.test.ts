import { crc32, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readZip, ZipError } from './zip.js';

// Made by Info-ZIP's `zip -X` on this machine: stored entries, and a deflated one.
const REAL =
  'UEsDBAoAAAAAAEp/gl0FlCL/EAAAABAAAAAIAAAAZGF0YS50eHRoZWxsbyBmcm9tIGRhdGEKUEsDBAoAAAAAAEp/gl1a1GigBAAAAAQAAAAJAAAAaW5wdXQudHh0MyA0ClBLAQIeAwoAAAAAAEp/gl0FlCL/EAAAABAAAAAIAAAAAAAAAAEAAACkgQAAAABkYXRhLnR4dFBLAQIeAwoAAAAAAEp/gl1a1GigBAAAAAQAAAAJAAAAAAAAAAEAAACkgTYAAABpbnB1dC50eHRQSwUGAAAAAAIAAgBtAAAAYQAAAAAA';
const DEFLATED =
  'UEsDBBQAAAAIAEx/gl1uqEsqDQAAACADAAAHAAAAcmVwLnR4dEtMSuZKHMWjeBRjxQBQSwECHgMUAAAACABMf4JdbqhLKg0AAAAgAwAABwAAAAAAAAABAAAApIEAAAAAcmVwLnR4dFBLBQYAAAAAAQABADUAAAAyAAAAAAA=';
/** `zip -r` of d/f.txt: a directory entry and a file inside it. */
const WITH_DIR =
  'UEsDBAoAAAAAAEp/gl0AAAAAAAAAAAAAAAACAAAAZC9QSwMECgAAAAAASn+CXR8I6kYCAAAAAgAAAAcAAABkL2YudHh0eApQSwECHgMKAAAAAABKf4JdAAAAAAAAAAAAAAAAAgAAAAAAAAAAABAA7UEAAAAAZC9QSwECHgMKAAAAAABKf4JdHwjqRgIAAAACAAAABwAAAAAAAAABAAAApIEgAAAAZC9mLnR4dFBLBQYAAAAAAgACAGUAAABHAAAAAAA=';
/** `zip -y` of a symlink to /etc/passwd. */
const SYMLINK =
  'UEsDBAoAAAAAAEp/gl0KuR8pCwAAAAsAAAAEAAAAbGluay9ldGMvcGFzc3dkUEsBAh4DCgAAAAAASn+CXQq5HykLAAAACwAAAAQAAAAAAAAAAAAAAP+hAAAAAGxpbmtQSwUGAAAAAAEAAQAyAAAALQAAAAAA';

const LIMITS = { maxBytes: 10 * 1024 * 1024, maxEntries: 49 };
const b64 = (s: string) => Buffer.from(s, 'base64');

/** A minimal zip writer, to forge what Info-ZIP would never write. */
function makeZip(entries: { name: string; data: Buffer; deflate?: boolean; size?: number; crc?: number }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const packed = e.deflate ? deflateRawSync(e.data) : e.data;
    const name = Buffer.from(e.name, 'latin1');
    const crc = e.crc ?? crc32(e.data);
    const size = e.size ?? e.data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(e.deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(e.deflate ? 8 : 0, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, packed);
    centrals.push(central, name);
    offset += 30 + name.length + packed.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

describe('readZip', () => {
  it('reads what Info-ZIP writes, stored and deflated', () => {
    expect(readZip(b64(REAL), LIMITS).map((e) => [e.name, e.content.toString()])).toEqual([
      ['data.txt', 'hello from data\n'],
      ['input.txt', '3 4\n'],
    ]);
    const [rep] = readZip(b64(DEFLATED), LIMITS);
    expect(rep!.content.toString()).toBe('abc\n'.repeat(200));
  });

  it('refuses directories, links and names that are not plain', () => {
    expect(() => readZip(b64(WITH_DIR), LIMITS)).toThrow(/entries in directories are not supported \("d\/"\)/);
    expect(() => readZip(b64(SYMLINK), LIMITS)).toThrow(/"link" is not a regular file/);
    expect(() => readZip(makeZip([{ name: '../../etc/x', data: Buffer.from('x') }]), LIMITS)).toThrow(/directories/);
    expect(() => readZip(makeZip([{ name: '.hidden', data: Buffer.from('x') }]), LIMITS)).toThrow(/not a plain file name/);
    expect(() => readZip(makeZip([{ name: 'a.txt', data: Buffer.from('x') }, { name: 'a.txt', data: Buffer.from('y') }]), LIMITS)).toThrow(/twice/);
  });

  it('caps what it unpacks before inflating, and never inflates past an entry’s declared size (a bomb)', () => {
    const big = Buffer.alloc(5 * 1024 * 1024);
    expect(() => readZip(makeZip([{ name: 'a', data: big, deflate: true }, { name: 'b', data: big, deflate: true }, { name: 'c', data: big, deflate: true }]), LIMITS)).toThrow(
      /unpacks to more than 10485760 bytes/,
    );
    // Declares 10 bytes, holds 5 MiB of zeros: inflating stops at 10.
    expect(() => readZip(makeZip([{ name: 'bomb', data: big, deflate: true, size: 10 }]), LIMITS)).toThrow(/"bomb" is corrupt/);
    expect(() => readZip(makeZip(Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, data: Buffer.from('x') }))), LIMITS)).toThrow(
      /50 entries, more than the 49 allowed/,
    );
  });

  it('checks each entry against its CRC, and refuses what is not a zip', () => {
    expect(() => readZip(makeZip([{ name: 'a.txt', data: Buffer.from('abc'), crc: 1 }]), LIMITS)).toThrow(/CRC/);
    expect(() => readZip(Buffer.from('not a zip at all, just text'), LIMITS)).toThrow(ZipError);
    expect(() => readZip(b64(REAL).subarray(0, 150), LIMITS)).toThrow(ZipError);
    const cut = Buffer.from(b64(REAL));
    cut.writeUInt32LE(0xfffffff0, cut.length - 6); // central directory offset far past the end
    expect(() => readZip(cut, LIMITS)).toThrow(/out of bounds/);
  });
});
