import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOrder, modinfo } from './kmod.js';

/** A minimal ELF64 little-endian file with a .shstrtab and a .modinfo section. */
function fakeModule(info: Record<string, string>): Buffer {
  const shstrtab = Buffer.from('\0.shstrtab\0.modinfo\0');
  const modinfoData = Buffer.from(Object.entries(info).map(([k, v]) => `${k}=${v}\0`).join(''));
  const dataAt = 64;
  const modAt = dataAt + shstrtab.length;
  const shoff = modAt + modinfoData.length;
  const elf = Buffer.alloc(shoff + 3 * 64);
  elf.writeUInt32BE(0x7f454c46, 0);
  elf[4] = 2; // 64-bit
  elf[5] = 1; // little-endian
  elf.writeBigUInt64LE(BigInt(shoff), 0x28);
  elf.writeUInt16LE(64, 0x3a);
  elf.writeUInt16LE(3, 0x3c);
  elf.writeUInt16LE(1, 0x3e);
  shstrtab.copy(elf, dataAt);
  modinfoData.copy(elf, modAt);
  const section = (i: number, name: number, offset: number, size: number) => {
    const at = shoff + i * 64;
    elf.writeUInt32LE(name, at);
    elf.writeBigUInt64LE(BigInt(offset), at + 24);
    elf.writeBigUInt64LE(BigInt(size), at + 32);
  };
  section(1, 1, dataAt, shstrtab.length);
  section(2, 11, modAt, modinfoData.length);
  return elf;
}

describe('modinfo and loadOrder', () => {
  it("reads a module's .modinfo keys", () => {
    const m = modinfo(fakeModule({ depends: 'virtio,virtio_ring', license: 'GPL' }));
    expect(m.get('depends')).toEqual(['virtio,virtio_ring']);
    expect(m.get('license')).toEqual(['GPL']);
    expect(() => modinfo(Buffer.from('not an elf file at all, not at all, not at all, not at all, really'))).toThrow(/ELF/);
  });

  it('orders modules dependencies first, names with - or _ alike, and names who needed a missing one', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kmod-'));
    const mod = (name: string, depends: string) => {
      const file = path.join(dir, `${name}.ko`);
      writeFileSync(file, fakeModule({ depends }));
      return [name.replace(/-/g, '_'), file] as const;
    };
    const index = new Map([mod('virtio_ring', ''), mod('virtio', ''), mod('virtio_blk', 'virtio,virtio_ring'), mod('virtio-mmio', 'virtio,virtio_ring'), mod('ext4', 'jbd2')]);
    const order = (await loadOrder(index, ['virtio_blk', 'virtio-mmio'])).map((f) => path.basename(f));
    expect(order).toEqual(['virtio.ko', 'virtio_ring.ko', 'virtio_blk.ko', 'virtio-mmio.ko']);
    await expect(loadOrder(index, ['ext4'])).rejects.toThrow('kernel module jbd2 not found (needed by ext4)');
  });
});
