import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { PaddockError } from '../../errors.js';
import type { ImageInfo } from '../../images/catalog.js';
import { treeSize } from '../../images/tree.js';

const run = promisify(execFile);

/** Room for a VM to write to its root beyond what the image holds (its /work and /tmp are tmpfs, sized by disk_mb). */
const ROOT_HEADROOM_MB = 256;

/**
 * The image's rootfs as a raw ext4 file, the read-only base every VM of the image shares below its
 * own overlay: made once per image hash (`mkfs.ext4 -d`, sparse), beside the image.
 */
export async function ensureRootDisk(image: ImageInfo): Promise<string> {
  const key = image.hash?.slice(0, 16) ?? `mtime-${Math.floor((await stat(image.rootfs)).mtimeMs)}`;
  const file = path.join(path.dirname(image.rootfs), `vm-root-${key}.ext4`);
  if (existsSync(file)) return file;
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  try {
    const used = await treeSize(image.rootfs);
    const mb = Math.ceil((used * 1.25) / (1024 * 1024)) + ROOT_HEADROOM_MB;
    await writeFile(tmp, '');
    await truncate(tmp, mb * 1024 * 1024);
    await run('mkfs.ext4', ['-q', '-F', '-L', 'paddock-root', '-d', image.rootfs, tmp], { timeout: 600_000 });
    await rename(tmp, file);
    return file;
  } catch (err) {
    await rm(tmp, { force: true });
    throw new PaddockError('driver_error', `cannot make the VM disk of image ${image.name}: ${(err as Error).message}`);
  }
}

/** A VM's own disk: a qcow2 overlay on `base` (writes go here, the base is never changed). */
export async function createOverlay(base: string, file: string, baseFormat: 'raw' | 'qcow2' = 'raw'): Promise<void> {
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', baseFormat, file], { timeout: 30_000 }).catch((err: Error) => {
    throw new PaddockError('driver_error', `qemu-img create: ${err.message}`);
  });
}
