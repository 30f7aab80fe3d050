import { spawn } from 'node:child_process';
import { BASE_ENV, type Sandbox } from '../sandbox/driver.js';
import { PaddockError } from '../errors.js';

/** The repository's work tree inside the sandbox, and the CLI's home beside it (not in the diff). */
export const REPO_DIR = '/work/repo';
export const AGENT_HOME = '/work/.home';
const TARBALL = '/tmp/.paddock/repo.tar';

/** Who commits inside the sandbox, when the agent commits at all (the diff is taken against the base either way). */
export const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: 'Paddock Agent',
  GIT_AUTHOR_EMAIL: 'agent@paddock.invalid',
  GIT_COMMITTER_NAME: 'Paddock Agent',
  GIT_COMMITTER_EMAIL: 'agent@paddock.invalid',
};

// Fixed text: nothing a job or user gives reaches these scripts except as "$1", checked first.
const SETUP = `set -eu
mkdir -p "$HOME/.claude" ${REPO_DIR}
cd ${REPO_DIR}
if [ -f ${TARBALL} ]; then
  tar -xf ${TARBALL} --no-same-owner
else
  git init -q -b main .
  git commit -q --allow-empty -m "empty work tree"
fi
git rev-parse HEAD`;

const DIFF = `cd ${REPO_DIR} && git add -A >/dev/null 2>&1
exec git -c core.quotepath=off diff --cached --binary --no-color --no-ext-diff --no-textconv --no-renames "$1"`;
const NAMES = `cd ${REPO_DIR} && exec git diff --cached --name-status -z --no-renames "$1"`;

const COMMIT_RE = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;
const SETUP_TIMEOUT_MS = 120_000;
const DIFF_TIMEOUT_MS = 60_000;

const env = () => ({ ...BASE_ENV, HOME: AGENT_HOME, ...GIT_IDENTITY });

/** Runs one fixed script in the sandbox, keeping at most `max` bytes of stdout. */
async function script(sandbox: Sandbox, text: string, args: string[], max: number, timeoutMs: number) {
  const out: Buffer[] = [];
  let size = 0;
  let truncated = false;
  const err: Buffer[] = [];
  const r = await sandbox.exec(
    { argv: ['/bin/sh', '-c', text, 'sh', ...args], cwd: '/work', env: env() },
    (stream, chunk) => {
      if (stream === 'stderr') {
        if (err.length < 16) err.push(chunk);
        return;
      }
      if (size + chunk.length > max) {
        truncated = true;
        chunk = chunk.subarray(0, Math.max(0, max - size));
      }
      size += chunk.length;
      out.push(chunk);
    },
    AbortSignal.timeout(timeoutMs),
  );
  const stderr = Buffer.concat(err).toString('utf8').slice(0, 2000);
  return { r, stdout: Buffer.concat(out), truncated: truncated || r.stdoutTruncated, stderr };
}

/**
 * Puts the checkout into the sandbox (a tar of it, streamed through the agent and unpacked there by
 * the sandbox user), or an empty repository when the job has none. The host never mounts a tree the
 * sandbox can write, so no host-side git ever reads what the job made of it. Returns the base commit.
 */
export async function setupWorkTree(sandbox: Sandbox, checkoutDir: string | null): Promise<string> {
  if (checkoutDir) {
    const tar = spawn('tar', ['-C', checkoutDir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const failed = new Promise<never>((_, reject) => {
      tar.on('error', reject);
      tar.on('exit', (code) => code !== 0 && reject(new Error(`tar exited ${code}`)));
    });
    await Promise.race([sandbox.agent.writeFile(TARBALL, tar.stdout, { mkdirs: true, mode: 0o644 }), failed]);
  }
  const { r, stdout, stderr } = await script(sandbox, SETUP, [], 4096, SETUP_TIMEOUT_MS);
  if (checkoutDir) await sandbox.agent.remove(TARBALL).catch(() => undefined);
  const base = stdout.toString('utf8').trim();
  if (r.exitCode !== 0 || !COMMIT_RE.test(base)) {
    throw new PaddockError('repo_unavailable', `setting up the work tree in the sandbox failed (exit ${r.exitCode}): ${stderr}`);
  }
  return base;
}

export interface WorkDiff {
  patch: Buffer;
  truncated: boolean;
  files: { status: string; path: string }[];
}

/**
 * The work tree against the base commit (everything the agent changed, committed or not), as
 * `git diff --binary` made inside the sandbox: it is the job's product, so nothing of it is trusted.
 */
export async function diffWorkTree(sandbox: Sandbox, base: string, maxBytes: number): Promise<WorkDiff> {
  if (!COMMIT_RE.test(base)) throw new Error(`not a commit id: ${base}`);
  const diff = await script(sandbox, DIFF, [base], maxBytes, DIFF_TIMEOUT_MS);
  if (diff.r.exitCode !== 0 && !diff.truncated) {
    throw new PaddockError('agent_error', `taking the work tree's diff failed (exit ${diff.r.exitCode}): ${diff.stderr}`);
  }
  if (diff.stdout.length === 0) return { patch: diff.stdout, truncated: false, files: [] };
  const names = await script(sandbox, NAMES, [base], 4 * 1024 * 1024, DIFF_TIMEOUT_MS);
  return { patch: diff.stdout, truncated: diff.truncated, files: parseNameStatus(names.stdout) };
}

/** `git diff --name-status -z`: STATUS NUL PATH NUL …, kept to what a status and a path can be. */
export function parseNameStatus(out: Buffer, max = 10_000): { status: string; path: string }[] {
  const parts = out.toString('utf8').split('\0');
  const files: { status: string; path: string }[] = [];
  for (let i = 0; i + 1 < parts.length && files.length < max; i += 2) {
    const status = parts[i]!;
    const path = parts[i + 1]!;
    if (!/^[ACDMTUX][0-9]{0,3}$/.test(status) || path.length === 0 || path.length > 4096) break;
    files.push({ status, path });
  }
  return files;
}
