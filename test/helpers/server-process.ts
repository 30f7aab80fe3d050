import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Api, apiClient } from './sandbox.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'dist/cli/main.js');

/** Servers started here with when they exited, so a failed test can show what they logged (test/setup.ts). */
const started = new Map<ServerProcess, number | undefined>();
/** Servers that were still running at `since` (ms since the epoch) or started after it. */
export const serversSince = (since: number): ServerProcess[] =>
  [...started].filter(([, exitedAt]) => exitedAt === undefined || exitedAt >= since).map(([s]) => s);

export interface ServerProcess {
  proc: ChildProcess;
  url: string;
  api: Api;
  /** Resolves once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

/**
 * Starts the built CLI (`node dist/cli/main.js serve --port 0`) as its own process
 * and waits for the address it prints on stderr. `env` adds PADDOCK_* settings.
 */
export async function startServerProcess(
  dataDir: string,
  env: Record<string, string> = {},
  extraArgs: string[] = [],
  /** Extra fds the process inherits, as `{ childFd: parentFd }` (not close-on-exec in the child). */
  inheritFds: Record<number, number> = {},
  /** `netns`: run it in that network namespace (test/helpers/netns.ts; `ip netns exec` keeps the pid). */
  opts: { netns?: string } = {},
): Promise<ServerProcess> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  // Only the settings this test chooses: nothing PADDOCK_* leaks in from the caller.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PADDOCK_')));
  const stdio: (number | 'ignore' | 'pipe')[] = ['ignore', 'ignore', 'pipe'];
  for (const [child, parent] of Object.entries(inheritFds)) {
    for (let i = stdio.length; i < Number(child); i++) stdio.push('ignore');
    stdio[Number(child)] = parent;
  }
  const argv = [CLI, 'serve', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', ...extraArgs];
  const proc = spawn(
    opts.netns ? 'ip' : process.execPath,
    opts.netns ? ['netns', 'exec', opts.netns, process.execPath, ...argv] : argv,
    // No storage reserve file (16 MiB each) in the many throw-away data dirs tests make.
    // No shutdown grace either: a test that stops a runner with jobs running means them to be cut short,
    // unless it tests the grace itself (it sets PADDOCK_SHUTDOWN_GRACE_MS).
    {
      env: { PADDOCK_DRIVERS: 'bwrap', PADDOCK_STORAGE__RESERVE_MB: '0', PADDOCK_JUDGE__SMOKE: 'false', PADDOCK_SHUTDOWN_GRACE_MS: '0', ...base, ...env },
      stdio,
    },
  );
  let stderr = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (t: string) => (stderr += t));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 20 s:\n${stderr}`)), 20_000);
    const check = () => {
      const m = /paddock: listening on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    proc.stderr!.on('data', check);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening:\n${stderr}`));
    });
    check();
  });
  const token = readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
  const server: ServerProcess = { proc, url, api: apiClient(url, token), exited, stderr: () => stderr };
  started.set(server, undefined);
  void exited.then(() => started.set(server, Date.now()));
  return server;
}

/** Sends `signal` and waits up to `ms` for the exit; SIGKILLs it after that so no test leaks a server. */
export async function stopServerProcess(
  server: ServerProcess,
  signal: NodeJS.Signals,
  ms = 40_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const started = Date.now();
  if (server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  const result = await Promise.race([server.exited, timeout]);
  clearTimeout(timer);
  if (result === 'timeout') {
    server.proc.kill('SIGKILL');
    return { ...(await server.exited), ms: Date.now() - started };
  }
  return { ...result, ms: Date.now() - started };
}
