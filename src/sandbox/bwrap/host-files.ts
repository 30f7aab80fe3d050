import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PaddockError } from '../../errors.js';
import { WORK_DIR } from '../driver.js';
import { SANDBOX_UID } from './args.js';

/**
 * The passwd, group, hosts and hostname files every sandbox sees in /etc, written to `etcDir`;
 * the dirs on the way are made traversable (not listable) for the sandboxes' host uids.
 */
export async function writeEtc(dataDir: string, etcDir: string): Promise<void> {
  await mkdir(etcDir, { recursive: true, mode: 0o755 });
  const files: Record<string, string> = {
    passwd: `root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:${SANDBOX_UID}:${SANDBOX_UID}:sandbox:${WORK_DIR}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
    group: `root:x:0:\nsandbox:x:${SANDBOX_UID}:\nnogroup:x:65534:\n`,
    hosts: '127.0.0.1 localhost sandbox\n::1 localhost\n',
    hostname: 'sandbox\n',
  };
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(etcDir, name);
    await writeFile(file, text);
    await chmod(file, 0o644);
  }
  for (const dir of [dataDir, path.dirname(etcDir), etcDir]) {
    await chmod(dir, dir === etcDir ? 0o755 : 0o711);
  }
}

/** The rootfs of a built image under `imagesDir`; else `image_not_found`, naming the images there are. */
export function imageRootfs(imagesDir: string, image: string): string {
  const rootfs = path.join(imagesDir, image, 'rootfs');
  if (/^[a-z0-9][a-z0-9._-]*$/i.test(image) && existsSync(rootfs)) return rootfs;
  // Only complete images: dot-entries are the image builder's work dirs and locks.
  const known = existsSync(imagesDir)
    ? readdirSync(imagesDir).filter((n) => !n.startsWith('.') && existsSync(path.join(imagesDir, n, 'rootfs')))
    : [];
  throw new PaddockError('image_not_found', `image "${image}" not found for driver bwrap`, { image, available: known });
}
