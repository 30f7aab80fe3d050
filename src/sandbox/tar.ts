import path from 'node:path';

/**
 * A minimal ustar writer for job input files: enough to hand a few files to
 * `tar -x` inside a container, without a dependency for it. Directories in
 * `existing` get no entry of their own (unpacking as a non-root user cannot
 * set the mode of a directory it does not own, such as /tmp).
 */
export function tarFiles(
  files: { path: string; content: Buffer; mode?: number }[],
  owner = 10001,
  existing: readonly string[] = [],
): Buffer {
  const blocks: Buffer[] = [];
  const dirs = new Set<string>(existing);
  for (const f of files) {
    for (let d = path.posix.dirname(f.path); d !== '.' && d !== '/' && !dirs.has(d); d = path.posix.dirname(d)) {
      dirs.add(d);
    }
  }
  for (const d of [...dirs].sort()) if (!existing.includes(d)) blocks.push(header(`${d}/`, 0, 0o755, '5', owner));
  for (const f of files) {
    blocks.push(header(f.path, f.content.length, f.mode ?? 0o644, '0', owner), f.content);
    const pad = (512 - (f.content.length % 512)) % 512;
    if (pad) blocks.push(Buffer.alloc(pad));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function header(name: string, size: number, mode: number, type: string, owner: number): Buffer {
  const h = Buffer.alloc(512);
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    // ustar splits long paths at a slash into prefix (155) + name (100).
    const cut = name.lastIndexOf('/', name.length - 2);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
    if (Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) throw new Error(`path too long for tar: ${prefix}/${name}`);
  }
  const put = (value: string, offset: number, length: number) => h.write(value, offset, length, 'utf8');
  const octal = (n: number, length: number) => `${n.toString(8).padStart(length - 1, '0')}\0`;
  put(name, 0, 100);
  put(octal(mode, 8), 100, 8);
  put(octal(owner, 8), 108, 8);
  put(octal(owner, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(Math.floor(Date.now() / 1000), 12), 136, 12);
  put('        ', 148, 8); // checksum field counts as spaces while summing
  put(type, 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  put(prefix, 345, 155);
  let sum = 0;
  for (const byte of h) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}
