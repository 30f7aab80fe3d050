import { describe, expect, it } from 'vitest';
import { cpioArchive } from './cpio.js';

/** Reads a newc archive back: name, mode, size, rdev and data per entry. */
function parse(buf: Buffer) {
  const out: { name: string; mode: number; data: Buffer; rdev: [number, number] }[] = [];
  let at = 0;
  const pad = (n: number) => (4 - (n % 4)) % 4;
  for (;;) {
    expect(buf.toString('latin1', at, at + 6)).toBe('070701');
    const field = (i: number) => parseInt(buf.toString('latin1', at + 6 + i * 8, at + 14 + i * 8), 16);
    const [mode, size, rmaj, rmin, namesize] = [field(1), field(6), field(9), field(10), field(11)];
    const nameAt = at + 110;
    const name = buf.toString('utf8', nameAt, nameAt + namesize - 1);
    const dataAt = nameAt + namesize + pad(110 + namesize);
    if (name === 'TRAILER!!!') return out;
    out.push({ name, mode, data: buf.subarray(dataAt, dataAt + size), rdev: [rmaj, rmin] });
    at = dataAt + size + pad(size);
  }
}

describe('cpioArchive', () => {
  it('writes newc entries the kernel can unpack: dirs, files with data, a char device, then the trailer', () => {
    const archive = cpioArchive([
      { kind: 'dir', path: 'dev' },
      { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
      { kind: 'file', path: '/init', data: Buffer.from('#!agent'), mode: 0o755 },
      { kind: 'file', path: 'lib/modules/a.ko', data: Buffer.alloc(5, 1) },
    ]);
    expect(archive.length % 4).toBe(0);
    expect(parse(archive)).toEqual([
      { name: 'dev', mode: 0o040755, data: Buffer.alloc(0), rdev: [0, 0] },
      { name: 'dev/console', mode: 0o020600, data: Buffer.alloc(0), rdev: [5, 1] },
      { name: 'init', mode: 0o100755, data: Buffer.from('#!agent'), rdev: [0, 0] },
      { name: 'lib/modules/a.ko', mode: 0o100644, data: Buffer.alloc(5, 1), rdev: [0, 0] },
    ]);
  });

  it('refuses paths that climb or are empty', () => {
    for (const p of ['../x', 'a/../../b', '', 'a//b', './a']) {
      expect(() => cpioArchive([{ kind: 'dir', path: p }]), p).toThrow(/bad cpio path/);
    }
  });
});
