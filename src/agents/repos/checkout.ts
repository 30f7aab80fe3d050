import { lstat, rm } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { PaddockError } from '../../errors.js';
import type { GitRunner } from './git.js';
import type { ResolvedRef } from './mirror.js';

/**
 * A job's work tree at `dest`, from the mirror: a depth-1 fetch of the one commit over file://
 * (upload-pack packs that commit's tree only, whatever the history's size), then a checkout.
 * The result has its own objects and no alternates, so it still works once tarred into a sandbox
 * where the mirror's host path does not exist; `origin` is the real URL and nothing names the mirror.
 * (Measured against `clone --shared` + checkout + `repack -a -d` + dropping the alternates: same
 * speed on a small repository, and history-sized work on a big one; see repo-cache.int.test.ts.)
 */
export async function checkoutFromMirror(
  git: GitRunner,
  mirror: string,
  resolved: ResolvedRef,
  dest: string,
  url: string,
  signal?: AbortSignal,
): Promise<void> {
  if (await exists(dest)) throw new PaddockError('conflict', `checkout destination ${dest} already exists`);
  const step = async (what: string, args: string[], allowFile = false) => {
    const r = await git.run(args, { signal, allow: { file: allowFile } });
    if (r.code !== 0) throw new PaddockError('internal', `${what} failed: ${r.stderr.slice(0, 2000)}`);
  };
  try {
    const format = resolved.commit.length === 64 ? ['--object-format=sha256'] : [];
    await step('git init', ['init', '--quiet', '--template=', ...format, '--', dest]);
    // The commit by id, whichever ref named it; upload-pack (run by this fetch, with its -c) must allow that.
    const fetch = ['fetch', '--quiet', '--depth=1', '--no-tags', '--no-write-fetch-head', '--', pathToFileURL(mirror).href, resolved.commit];
    await step('git fetch from the mirror', ['-C', dest, '-c', 'uploadpack.allowAnySHA1InWant=true', ...fetch], true);
    const branch = resolved.ref.startsWith('refs/heads/') ? resolved.ref.slice('refs/heads/'.length) : undefined;
    await step('git checkout', ['-C', dest, 'checkout', '--quiet', ...(branch ? ['-b', branch] : ['--detach']), resolved.commit]);
    await step('git remote add', ['-C', dest, 'remote', 'add', '--', 'origin', url]);
  } catch (err) {
    await rm(dest, { recursive: true, force: true });
    throw err;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}
