/**
 * A newc cpio archive (the initramfs format the kernel unpacks), written in full in memory: the
 * microVM's initramfs is a few MiB (the agent and a dozen modules).
 */
export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Buffer; mode?: number }
  | { kind: 'chardev'; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

export function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const add = (name: string, mode: number, data: Buffer, rdev: [number, number] = [0, 0]) => {
    const nameBuf = Buffer.from(`${name}\0`);
    const fields = [ino++, mode, 0, 0, mode & S_IFDIR ? 2 : 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameBuf.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`);
    parts.push(header, nameBuf, pad(header.length + nameBuf.length), data, pad(data.length));
  };
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, '');
    if (!name || name.split('/').some((s) => s === '..' || s === '.' || s === '')) throw new Error(`bad cpio path ${e.path}`);
    if (e.kind === 'dir') add(name, S_IFDIR | (e.mode ?? 0o755), Buffer.alloc(0));
    else if (e.kind === 'file') add(name, S_IFREG | (e.mode ?? 0o644), e.data);
    else add(name, S_IFCHR | (e.mode ?? 0o600), Buffer.alloc(0), [e.major, e.minor]);
  }
  add('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}
