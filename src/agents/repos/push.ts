import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PaddockError } from '../../errors.js';
import type { GitAuth, GitResult } from './git.js';
import { type MirrorPaths, type RemoteOps, unavailable } from './mirror.js';

export interface PushRequest {
  url: string;
  base: string;
  patch: Buffer | string;
  branch: string;
  message: string;
  author: { name: string; email: string };
  auth?: GitAuth;
  signal?: AbortSignal;
}

/**
 * The sandbox's `git diff --binary`, committed on `base` and pushed. The patch was made by untrusted
 * code, so it is applied by `git apply --index`, which refuses paths that leave the tree, go through
 * `.git`, or pass through a symlink (its own or one in the base tree), in a throwaway repository whose
 * objects come from the mirror through alternates (nothing copied; it never leaves the host).
 */
export async function commitAndPush(ops: RemoteOps, p: MirrorPaths, req: PushRequest): Promise<{ commit: string }> {
  const tmpRoot = path.join(ops.root, '.tmp');
  await mkdir(tmpRoot, { recursive: true });
  const work = path.join(tmpRoot, `${p.key}.push.${randomBytes(4).toString('hex')}`);
  const signal = req.signal;
  const local = async (what: string, args: string[], input?: Buffer | string, env?: Record<string, string>): Promise<GitResult> => {
    const r = await ops.git.run(['-C', work, ...args], { signal, input, env });
    if (r.code !== 0) throw new PaddockError('internal', `${what} failed: ${r.stderr.slice(0, 2000)}`);
    return r;
  };
  try {
    const init = await ops.git.run(['init', '--quiet', '--template=', '--', work], { signal });
    if (init.code !== 0) throw new PaddockError('internal', `git init failed: ${init.stderr}`);
    await writeFile(path.join(work, '.git', 'objects', 'info', 'alternates'), `${path.join(p.dir, 'objects')}\n`);
    await local('git checkout of the base', ['checkout', '--quiet', '--detach', req.base]);

    const applied = await ops.git.run(['-C', work, 'apply', '--index', '--binary', '--whitespace=nowarn', '-'], {
      signal,
      input: req.patch,
    });
    if (applied.code !== 0) {
      throw new PaddockError('patch_rejected', `the patch does not apply to ${req.base.slice(0, 12)}: ${applied.stderr.slice(0, 1000)}`, {
        stderr: applied.stderr,
      });
    }
    const who = { name: req.author.name, email: req.author.email };
    await local('git commit', ['commit', '--quiet', '--no-verify', '-F', '-'], req.message, {
      GIT_AUTHOR_NAME: who.name,
      GIT_AUTHOR_EMAIL: who.email,
      GIT_COMMITTER_NAME: who.name,
      GIT_COMMITTER_EMAIL: who.email,
    });
    const commit = (await local('git rev-parse', ['rev-parse', '--verify', 'HEAD'])).stdout.trim();

    // Force only where Paddock owns the branch: a rerun replaces its own work, never a person's.
    const force = req.branch.startsWith('paddock/') ? '+' : '';
    const pushed = await ops.git.run(['-C', work, 'push', '--porcelain', '--', req.url, `${force}${commit}:refs/heads/${req.branch}`], {
      auth: req.auth,
      signal,
      allow: ops.allow,
    });
    if (pushed.code !== 0) {
      const rejected = /^!\t[^\t]*\t(.*)$/m.exec(pushed.stdout);
      if (rejected) {
        throw new PaddockError('repo_push_rejected', `${req.url} rejected the push to ${req.branch}: ${rejected[1]!.slice(0, 300)}`, {
          url: req.url,
          branch: req.branch,
          reason: rejected[1]!.slice(0, 300),
          stderr: pushed.stderr,
        });
      }
      throw unavailable(req.url, 'push to', pushed);
    }
    return { commit };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
