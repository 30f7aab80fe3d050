import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { capture } from './run-logged.js';

/** Mount points at or under `dir` in this mount namespace, deepest first (the order to unmount them in). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const root = path.resolve(dir);
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const points = text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => !!p)
    // mountinfo escapes space, tab, newline and backslash as octal.
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === root || p.startsWith(`${root}/`));
  return points.sort((a, b) => b.length - a.length);
}

/**
 * Removes a rootfs tree that a build made. Chroot mounts live in their own mount
 * namespace (see chroot.ts), so nothing should be mounted here; but if anything
 * is, `rm -rf` would descend into it — into /proc, or worse a bound host
 * directory — so unmount first, and let rm stay on this one filesystem regardless.
 */
export async function removeTree(dir: string): Promise<void> {
  for (const point of await mountsUnder(dir)) await capture(['umount', '--lazy', point]);
  await capture(['rm', '-rf', '--one-file-system', '--', dir]);
}

/** Bytes a tree uses on disk (hard links once), for image.json and `image ls`. */
export async function treeSize(dir: string): Promise<number> {
  const out = await capture(['du', '-s', '-x', '-B1', '--', dir]);
  return Number(out.split(/\s/)[0]) || 0;
}
