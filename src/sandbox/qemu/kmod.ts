import { readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Kernel modules without kmod: a module's `depends=` comes from its ELF `.modinfo` section, so the
 * load order of what the microVM needs is found from Debian's kernel package alone (it ships no
 * modules.dep; depmod writes that at install time).
 */
export function modinfo(elf: Buffer): Map<string, string[]> {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) {
    throw new Error('not a 64-bit little-endian ELF file');
  }
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const shstrndx = elf.readUInt16LE(0x3e);
  if (shentsize < 64 || shoff + shnum * shentsize > elf.length || shstrndx >= shnum) throw new Error('bad ELF section table');
  const section = (i: number) => {
    const at = shoff + i * shentsize;
    const offset = Number(elf.readBigUInt64LE(at + 24));
    const size = Number(elf.readBigUInt64LE(at + 32));
    if (offset + size > elf.length) throw new Error('ELF section past the end of the file');
    return { name: elf.readUInt32LE(at), data: elf.subarray(offset, offset + size) };
  };
  const names = section(shstrndx).data;
  const out = new Map<string, string[]>();
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const end = names.indexOf(0, s.name);
    if (names.toString('latin1', s.name, end < 0 ? undefined : end) !== '.modinfo') continue;
    for (const kv of s.data.toString('latin1').split('\0')) {
      const eq = kv.indexOf('=');
      if (eq <= 0) continue;
      const key = kv.slice(0, eq);
      out.set(key, [...(out.get(key) ?? []), kv.slice(eq + 1)]);
    }
  }
  return out;
}

/** Module name → its .ko path, for every module under `root` (a `lib/modules/<version>/kernel` tree). */
export type ModuleIndex = Map<string, string>;

/** Module names are spelled with `-` or `_` interchangeably. */
export const moduleName = (file: string) => path.basename(file).replace(/\.ko$/, '').replace(/-/g, '_');

/**
 * `wanted` and what they depend on, dependencies first: the order they must be loaded in. A module
 * that is missing is an error naming who needed it.
 */
export async function loadOrder(index: ModuleIndex, wanted: string[]): Promise<string[]> {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = async (name: string, by: string | undefined): Promise<void> => {
    const key = name.replace(/-/g, '_');
    if (state.get(key) === 'done') return;
    if (state.get(key) === 'visiting') throw new Error(`module dependency cycle through ${key}`);
    const file = index.get(key);
    if (!file) throw new Error(`kernel module ${key} not found${by ? ` (needed by ${by})` : ''}`);
    state.set(key, 'visiting');
    const deps = (modinfo(await readFile(file)).get('depends') ?? []).flatMap((d) => d.split(',')).filter(Boolean);
    for (const d of deps) await visit(d, key);
    state.set(key, 'done');
    order.push(file);
  };
  for (const w of wanted) await visit(w, undefined);
  return order;
}
