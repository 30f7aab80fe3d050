import { createHash } from 'node:crypto';
import { lstat, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { PaddockError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { checkRepoUrl, isCheckoutRef, isGitRefName, type RepoUrlPolicy } from './grammar.js';
import { checkoutFromMirror } from './repos/checkout.js';
import { type GitAuth, GitRunner } from './repos/git.js';
import { MirrorLocks } from './repos/lock.js';
import {
  createMirror,
  fetchCommit,
  fetchMirror,
  type MirrorPaths,
  mirrorExists,
  mirrorPaths,
  type RemoteOps,
  resolveRef,
  type ResolvedRef,
  touchMeta,
} from './repos/mirror.js';
import { pruneMirrors } from './repos/prune.js';
import { commitAndPush, type PushRequest } from './repos/push.js';

export { basicAuth, type GitAuth } from './repos/git.js';
export type { PushRequest } from './repos/push.js';

export interface RepoCacheOptions {
  /** Where the mirrors live (agents.repos.cache_dir, default `<data_dir>/repos`). */
  dir: string;
  maxBytes: number;
  /** Each git process, and each wait for a mirror's lock. */
  timeoutMs: number;
  policy: RepoUrlPolicy;
  log: Logger;
}

const COMMIT_RE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const MAX_PATCH_BYTES = 256 * 1024 * 1024;

/**
 * Paddock's side of git for agent jobs: one bare mirror per repository (src/agents/repos/mirror.ts),
 * fetched before each job, a self-contained work tree per job, patches pushed back, LRU-bounded.
 *
 * Every checkout fetches with the job's own credentials before it reads the mirror, so a job cannot
 * get a private repository's cached contents without access to it; jobs waiting together share one
 * fetch only when they carry the same credentials.
 */
export class RepoCache {
  private readonly git: GitRunner;
  private readonly locks = new MirrorLocks();
  private readonly ops: RemoteOps;
  /** The last fetch of each mirror by this process: when it started (performance.now()) and with whose auth. */
  private readonly fetched = new Map<string, { startedAt: number; authKey: string }>();
  private pruning: Promise<{ removed: number; bytes: number }> | null = null;
  private prepared: Promise<void> | null = null;

  constructor(private readonly opts: RepoCacheOptions) {
    const home = path.join(opts.dir, '.home');
    this.git = new GitRunner({ home, timeoutMs: opts.timeoutMs });
    this.ops = { git: this.git, root: opts.dir, allow: { http: opts.policy.allowHttp, file: opts.policy.allowLocal } };
  }

  async checkout(
    url: string,
    ref: string | undefined,
    dest: string,
    opts: { auth?: GitAuth | undefined; signal?: AbortSignal } = {},
  ): Promise<{ commit: string; ref: string }> {
    const repo = checkRepoUrl(url, this.opts.policy);
    if (ref !== undefined && !isCheckoutRef(ref)) {
      const shown = JSON.stringify(ref.slice(0, 100));
      throw new PaddockError('validation_failed', `ref ${shown} is not a branch, tag or commit id`, { field: 'ref' });
    }
    if (await exists(dest)) throw new PaddockError('conflict', `checkout destination ${dest} already exists`);
    const arrived = performance.now();
    await this.prepare();
    const p = mirrorPaths(this.opts.dir, repo);
    const release = await this.locks.acquire(p.key, p.lock, { timeoutMs: this.opts.timeoutMs, signal: opts.signal });
    let resolved: ResolvedRef;
    try {
      const cold = await this.sync(p, repo, arrived, opts.auth, opts.signal);
      resolved = await this.resolve(p, repo, ref, opts.auth, opts.signal);
      await checkoutFromMirror(this.git, p.dir, resolved, dest, repo, opts.signal);
      await touchMeta(p, repo);
      const ms = Math.round(performance.now() - arrived);
      this.opts.log.info({ repo, ref: resolved.ref, commit: resolved.commit, cold, ms }, 'repository checked out');
    } finally {
      await release();
    }
    void this.prune().catch((err: unknown) => this.opts.log.warn({ err }, 'repository cache prune failed'));
    return resolved;
  }

  async pushPatch(req: PushRequest): Promise<{ commit: string }> {
    const repo = checkRepoUrl(req.url, this.opts.policy);
    checkPush(req);
    await this.prepare();
    const p = mirrorPaths(this.opts.dir, repo);
    // Held through the push: the temporary repository reads the mirror's objects through alternates.
    const release = await this.locks.acquire(p.key, p.lock, { timeoutMs: this.opts.timeoutMs, signal: req.signal });
    try {
      if (!(await mirrorExists(p))) await createMirror(this.ops, p, repo, req.auth, req.signal);
      if (!(await this.hasCommit(p, req.base, req.signal))) {
        await fetchMirror(this.ops, p, repo, req.auth, req.signal);
        if (!(await this.hasCommit(p, req.base, req.signal))) {
          await fetchCommit(this.ops, p, repo, req.base, req.auth, req.signal);
          if (!(await this.hasCommit(p, req.base, req.signal))) {
            throw new PaddockError('repo_ref_not_found', `${repo} has no commit ${req.base}`, { url: repo, ref: req.base });
          }
        }
      }
      const out = await commitAndPush(this.ops, p, { ...req, url: repo });
      await touchMeta(p, repo);
      this.opts.log.info({ repo, branch: req.branch, commit: out.commit }, 'patch pushed');
      return out;
    } finally {
      await release();
    }
  }

  /** Removes least recently used mirrors until the cache is at most maxBytes; one prune at a time. */
  prune(): Promise<{ removed: number; bytes: number }> {
    const run = (this.pruning ?? Promise.resolve())
      .catch(() => {})
      .then(() => pruneMirrors(this.opts.dir, this.opts.maxBytes, this.locks));
    this.pruning = run;
    void run.finally(() => {
      if (this.pruning === run) this.pruning = null;
    }).catch(() => {});
    return run.then((r) => {
      if (r.removed) this.opts.log.info(r, 'repository mirrors pruned');
      return r;
    });
  }

  /** Waits for a prune started after a checkout (at shutdown, so no rm outlives the runner's data dir). */
  async close(): Promise<void> {
    while (this.pruning) await this.pruning.catch(() => {});
  }

  private prepare(): Promise<void> {
    this.prepared ??= (async () => {
      await mkdir(path.join(this.opts.dir, '.home'), { recursive: true, mode: 0o700 });
    })();
    return this.prepared;
  }

  /** Clone when new, else fetch, unless a fetch with the same credentials started after we arrived. Returns whether it cloned. */
  private async sync(p: MirrorPaths, repo: string, arrived: number, auth: GitAuth | undefined, signal?: AbortSignal): Promise<boolean> {
    const authKey = createHash('sha256').update(auth?.header ?? '').digest('hex');
    const startedAt = performance.now();
    if (!(await mirrorExists(p))) {
      await createMirror(this.ops, p, repo, auth, signal);
      this.fetched.set(p.key, { startedAt, authKey });
      return true;
    }
    const last = this.fetched.get(p.key);
    if (last && last.startedAt >= arrived && last.authKey === authKey) return false;
    await fetchMirror(this.ops, p, repo, auth, signal);
    this.fetched.set(p.key, { startedAt, authKey });
    return false;
  }

  private async resolve(p: MirrorPaths, repo: string, ref: string | undefined, auth?: GitAuth, signal?: AbortSignal): Promise<ResolvedRef> {
    let resolved = await resolveRef(this.git, p.dir, ref, signal);
    if (!resolved && ref !== undefined && COMMIT_RE.test(ref) && (await fetchCommit(this.ops, p, repo, ref, auth, signal))) {
      resolved = await resolveRef(this.git, p.dir, ref, signal);
    }
    if (resolved) return resolved;
    const what = ref === undefined ? 'no default branch (is it empty?)' : `no branch, tag or commit ${JSON.stringify(ref)}`;
    throw new PaddockError('repo_ref_not_found', `${repo} has ${what}`, { url: repo, ref: ref ?? null });
  }

  private async hasCommit(p: MirrorPaths, commit: string, signal?: AbortSignal): Promise<boolean> {
    const r = await this.git.run(['-C', p.dir, 'cat-file', '-e', `${commit}^{commit}`], { signal });
    return r.code === 0;
  }
}

/** What reaches git's argv, its stdin or a commit, checked before any of it runs. */
function checkPush(req: PushRequest): void {
  const bad = (field: string, why: string) => new PaddockError('validation_failed', `${field}: ${why}`, { field });
  if (!COMMIT_RE.test(req.base)) throw bad('base', 'must be a full commit id');
  if (!isGitRefName(req.branch)) throw bad('branch', 'must be a git branch name');
  const patchBytes = typeof req.patch === 'string' ? Buffer.byteLength(req.patch) : req.patch.length;
  if (patchBytes === 0) throw bad('patch', 'is empty: there is nothing to commit');
  if (patchBytes > MAX_PATCH_BYTES) throw bad('patch', `is larger than ${MAX_PATCH_BYTES} bytes`);
  if (!req.message.trim() || req.message.length > 65_536 || req.message.includes('\0')) {
    throw bad('message', 'must be 1 to 65536 characters without NUL');
  }
  if (!/^[^\p{Cc}<>]{1,200}$/u.test(req.author.name) || !req.author.name.trim()) {
    throw bad('author.name', 'must be 1 to 200 characters without <, > or control characters');
  }
  if (!/^[^\s<>@\p{Cc}]{1,100}@[^\s<>@\p{Cc}]{1,200}$/u.test(req.author.email)) throw bad('author.email', 'must be an email address');
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}
