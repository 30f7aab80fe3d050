import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The pinned Claude Code CLI: the agent image's rootfs, else a local npm install (/tmp/claude-cli). */
export function findClaude(): string | undefined {
  const images = process.env.PADDOCK_IMAGES_DIR ?? '/var/cache/paddock/images';
  const candidates = [
    path.join(images, 'agent/rootfs/usr/local/bin/claude'),
    '/tmp/claude-cli/node_modules/@anthropic-ai/claude-code/bin/claude.exe',
  ];
  return candidates.find((c) => {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: any[];
  stdout: string;
  stderr: string;
  /** The work dir the CLI ran in (removed by cleanup()). */
  work: string;
  cleanup(): void;
}

/** The uid the CLI runs as: `nobody` when the tests run as root (the CLI refuses bypassPermissions as root). */
const NOBODY = 65534;

/**
 * Runs `claude -p` with the agent job's environment: its own HOME, no telemetry, the model API at
 * `baseUrl` and the placeholder key `x`. Argument arrays only; the prompt is an argv element.
 */
export async function runClaude(claude: string, baseUrl: string, prompt: string, opts: { timeoutMs?: number; extraArgs?: string[] } = {}): Promise<CliRun> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'paddock-claude-'));
  const work = path.join(home, 'work');
  fs.mkdirSync(work);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    fs.chmodSync(home, 0o755);
    fs.chownSync(home, NOBODY, NOBODY);
    fs.chownSync(work, NOBODY, NOBODY);
  }
  const env = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    CLAUDE_CONFIG_DIR: path.join(home, '.claude'),
    ANTHROPIC_BASE_URL: baseUrl,
    ANTHROPIC_API_KEY: 'x',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    CLAUDE_CODE_MAX_RETRIES: '1',
  };
  const args = ['-p', prompt, '--output-format', 'stream-json', '--verbose', '--permission-mode', 'bypassPermissions', ...(opts.extraArgs ?? [])];
  const [cmd, argv] = asRoot
    ? ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', claude, ...args]]
    : [claude, args];
  const child = spawn(cmd as string, argv as string[], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('close', (c, s) => resolve([c, s])),
  );
  clearTimeout(timer);
  const lines = stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));
  return { code, signal, lines, stdout, stderr, work, cleanup: () => fs.rmSync(home, { recursive: true, force: true }) };
}
