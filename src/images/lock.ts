import { open, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { processAlive } from '../util/pid.js';

const POLL_MS = 500;


/**
 * One build of an image at a time across processes (CI's build script, a test,
 * an operator): two builds renaming into the same `<name>/rootfs` would race.
 * The lock is a file holding the builder's pid; a lock whose pid is gone was
 * left by a killed build and is taken over. (A recycled pid only makes us wait
 * for an unrelated process; it never lets two builds in.) Returns the release function.
 */
export async function lockImage(
  imagesDir: string,
  name: string,
  onWait: (holderPid: number) => void,
): Promise<() => Promise<void>> {
  const file = path.join(imagesDir, `.lock-${name}`);
  let told = false;
  for (;;) {
    try {
      const handle = await open(file, 'wx', 0o644);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => unlink(file).catch(() => undefined);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(holder) || holder <= 0 || !processAlive(holder)) {
      // Empty means the holder is between open and write: give it a moment before judging it dead.
      if (holder === 0) await sleep(50);
      const again = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (again === holder || !processAlive(again)) await unlink(file).catch(() => undefined);
      continue;
    }
    if (!told) onWait(holder);
    told = true;
    await sleep(POLL_MS);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
