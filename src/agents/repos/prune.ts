import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { MirrorLocks } from './lock.js';
import { KEY_RE, type MirrorPaths, pathsOfKey, readMeta } from './mirror.js';

/** A clone or push left in `.tmp` by a crashed runner; no git operation lives this long (each has a timeout). */
const STALE_TMP_MS = 24 * 3600_000;

export interface MirrorUsage {
  paths: MirrorPaths;
  bytes: number;
  lastUsedMs: number;
}

/** Every mirror under `root` with its size on disk and its last use (the meta file's, else the directory's mtime). */
export async function listMirrors(root: string): Promise<MirrorUsage[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const out: MirrorUsage[] = [];
  for (const key of names.filter((n) => KEY_RE.test(n))) {
    const dir = path.join(root, key);
    try {
      const meta = await readMeta(dir);
      const lastUsedMs = meta ? Date.parse(meta.last_used_at) : (await stat(dir)).mtimeMs;
      out.push({ paths: pathsOfKey(root, key), bytes: await diskBytes(dir), lastUsedMs });
    } catch {
      // removed while we looked
    }
  }
  return out;
}

/**
 * Least recently used first, until the total is at most `maxBytes`. A mirror some job holds (its
 * lock taken, here or in another runner process) is skipped, never waited for. The mirror is renamed
 * away before it is deleted, so a half-deleted one is never taken for a mirror.
 */
export async function pruneMirrors(root: string, maxBytes: number, locks: MirrorLocks): Promise<{ removed: number; bytes: number }> {
  await sweepTmp(root);
  const mirrors = (await listMirrors(root)).sort((a, b) => a.lastUsedMs - b.lastUsedMs);
  let total = mirrors.reduce((n, m) => n + m.bytes, 0);
  let removed = 0;
  let bytes = 0;
  for (const m of mirrors) {
    if (total <= maxBytes) break;
    const release = await locks.tryAcquire(m.paths.key, m.paths.lock);
    if (!release) continue;
    try {
      const trash = path.join(root, '.tmp', `${m.paths.key}.trash.${randomBytes(4).toString('hex')}`);
      await mkdir(path.dirname(trash), { recursive: true });
      await rename(m.paths.dir, trash);
      await rm(trash, { recursive: true, force: true });
      total -= m.bytes;
      bytes += m.bytes;
      removed++;
    } catch {
      // gone already
    } finally {
      await release();
    }
  }
  return { removed, bytes };
}

async function sweepTmp(root: string): Promise<void> {
  const tmp = path.join(root, '.tmp');
  let names: string[];
  try {
    names = await readdir(tmp);
  } catch {
    return;
  }
  for (const n of names) {
    try {
      const p = path.join(tmp, n);
      if (Date.now() - (await lstat(p)).mtimeMs > STALE_TMP_MS) await rm(p, { recursive: true, force: true });
    } catch {
      // gone already
    }
  }
}

/** Bytes on disk (allocated blocks, not apparent sizes). */
export async function diskBytes(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  for (const e of entries) {
    if (!e.isFile()) continue;
    try {
      const st = await lstat(path.join(e.parentPath, e.name));
      total += st.blocks * 512;
    } catch {
      // removed meanwhile
    }
  }
  return total;
}
