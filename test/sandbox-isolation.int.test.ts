import { writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRunner, type TestRunner } from './helpers/runner.js';
import { type Api, expectHealthy, hostUser, removeRunnerState, submitJob } from './helpers/sandbox.js';

// What a job can see and touch of the host, through a real runner and real bwrap.
const UID = 61202;
const SECRET = `s3cr3t-${process.pid}-${Date.now()}`;
let runner: TestRunner;
let api: Api;

/** Runs a shell script and returns its stdout; the job must succeed. */
async function sh(script: string, spec: Record<string, unknown> = {}): Promise<string> {
  const job = await submitJob(api, { script, ...spec });
  expect(job.state, `${job.reason}: ${job.result?.stderr}`).toBe('succeeded');
  return job.result!.stdout;
}

beforeAll(async () => {
  // In the runner's own environment: a job must never see it.
  process.env.PADDOCK_SECRET_TEST = SECRET;
  runner = await startTestRunner({ max_concurrent_jobs: 2, ...hostUser(UID) });
  api = runner.api;
  // A host file next to the runner's data, where a job's /tmp would be if it were shared.
  writeFileSync(path.join(runner.dataDir, 'host-only.txt'), SECRET);
});
afterAll(async () => {
  delete process.env.PADDOCK_SECRET_TEST;
  await runner?.close();
  if (runner) removeRunnerState(runner.dataDir);
});

describe('identity and privileges', () => {
  it('runs as uid 10001 with no capabilities at all', async () => {
    const out = await sh('id -u; id -g; grep -E "^(Cap[A-Za-z]+|NoNewPrivs):" /proc/self/status');
    const lines = out.trim().split('\n');
    expect(lines.slice(0, 2)).toEqual(['10001', '10001']);
    const status = Object.fromEntries(lines.slice(2).map((l) => l.split(/:\s+/) as [string, string]));
    for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) {
      expect(status[cap], cap).toBe('0000000000000000');
    }
    expect(status.NoNewPrivs).toBe('1');
    await expectHealthy(api, UID);
  });

  it('cannot mount anything', async () => {
    const out = await sh(
      'mount -t tmpfs none /mnt 2>/dev/null; echo "mnt=$?"; mount -t tmpfs none /tmp 2>/dev/null; echo "tmp=$?"; ' +
        'mount --bind /work /tmp 2>/dev/null; echo "bind=$?"',
    );
    for (const m of out.trim().split('\n')) expect(m).toMatch(/^\w+=[1-9]\d*$/);
    await expectHealthy(api, UID);
  });
});

describe('network', () => {
  it('has only lo, and cannot reach a listener on the host', async () => {
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const hostIps = Object.values(os.networkInterfaces())
      .flat()
      .filter((i) => i && i.family === 'IPv4' && !i.internal)
      .map((i) => i!.address);
    try {
      // The listener is reachable from the host itself, so a refusal below means isolation.
      await new Promise<void>((resolve, reject) =>
        net.connect(port, '127.0.0.1', resolve).on('error', reject).end(),
      );
      await new Promise((r) => setTimeout(r, 100));
      expect(connections).toBe(1);

      const targets = ['127.0.0.1', ...hostIps];
      const out = await sh(
        'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; ' +
          `for a in ${targets.join(' ')}; do ` +
          `if timeout 5 bash -c "echo > /dev/tcp/$a/${port}" 2>/dev/null; then echo "connected $a"; ` +
          'else echo "blocked $a"; fi; done',
      );
      const lines = out.trim().split('\n');
      expect(lines[0]).toBe('lo');
      expect(lines.slice(1)).toEqual(targets.map((a) => `blocked ${a}`));
      await new Promise((r) => setTimeout(r, 200));
      expect(connections).toBe(1);
    } finally {
      server.close();
    }
    await expectHealthy(api, UID);
  }, 30_000);
});

describe('filesystem', () => {
  it('sees none of the host files that matter', async () => {
    const paths = [
      '/root',
      '/home',
      '/var/lib/paddock',
      '/var',
      '/run',
      '/sys',
      '/etc/shadow',
      '/etc/ssh',
      runner.dataDir,
      path.join(runner.dataDir, 'admin.token'),
      path.join(runner.dataDir, 'paddock.db'),
      path.join(runner.dataDir, 'host-only.txt'),
    ];
    const out = await sh(`for p in ${paths.join(' ')}; do [ -e "$p" ] && echo "visible $p"; done; true`);
    expect(out).toBe('');
    // /proc is the sandbox's own: no process in it carries the runner's environment.
    const environs = await sh('cat /proc/[0-9]*/environ 2>/dev/null | tr "\\0" "\\n"; true');
    expect(environs).not.toContain(SECRET);
    expect(environs).not.toContain('PADDOCK_SECRET_TEST');
    await expectHealthy(api, UID);
  });

  it('can write only under /work and /tmp', async () => {
    const targets = ['/work/x', '/tmp/x', '/usr/x', '/x', '/etc/x', '/bin/x', '/lib/x', '/etc/passwd'];
    const out = await sh(
      `for p in ${targets.join(' ')}; do if (echo hi >> "$p") 2>/dev/null; then echo "wrote $p"; ` +
        'else echo "denied $p"; fi; done',
    );
    expect(out.trim().split('\n')).toEqual(targets.map((p) => (/^\/(work|tmp)\//.test(p) ? 'wrote ' : 'denied ') + p));
    await expectHealthy(api, UID);
  });
});

describe('processes and environment', () => {
  it('sees only its own processes, with the sandbox agent as pid 1', async () => {
    const out = await sh('ps -eo pid=,comm=');
    const procs = out
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/));
    // bwrap runs with --as-pid-1: the agent is the namespace's init, the job's command its child.
    expect(procs[0]).toEqual(['1', 'agent']);
    expect(procs[1]?.[1]).toBe('sh');
    expect(procs.length).toBeLessThanOrEqual(4); // agent, sh, ps (+ a shell fork)
    expect(procs.map((p) => p[1])).not.toContain('node');
    await expectHealthy(api, UID);
  });

  it('two jobs running at once see neither each other’s files nor processes', async () => {
    const script =
      'echo "$0" > /tmp/mark-$0; echo "$0" > /work/mark-$0; sleep 2; ' +
      'echo "files: $(ls /tmp /work | tr "\\n" " ")"; ps -eo args=';
    const [a, b] = await Promise.all(
      ['job-A', 'job-B'].map((name) => submitJob(api, { command: ['sh', '-c', script, name] })),
    );
    // They really overlapped in time.
    expect(Date.parse(a!.started_at!)).toBeLessThan(Date.parse(b!.finished_at!));
    expect(Date.parse(b!.started_at!)).toBeLessThan(Date.parse(a!.finished_at!));
    for (const [job, self, other] of [
      [a!, 'job-A', 'job-B'],
      [b!, 'job-B', 'job-A'],
    ] as const) {
      expect(job.state).toBe('succeeded');
      expect(job.result!.stdout).toContain(`mark-${self}`);
      expect(job.result!.stdout).not.toContain(other);
    }
    await expectHealthy(api, UID);
  });

  it('starts with a cleared environment plus only what the job passes', async () => {
    const job = await submitJob(api, { command: ['/usr/bin/env'], env: { MY_VAR: 'hello' } });
    expect(job.state).toBe('succeeded');
    const env = Object.fromEntries(
      job.result!.stdout
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(Object.keys(env).sort()).toEqual(['HOME', 'LANG', 'LOGNAME', 'MY_VAR', 'PATH', 'PWD', 'TMPDIR', 'USER']);
    expect(env.MY_VAR).toBe('hello');
    expect(env.HOME).toBe('/work');
    expect(job.result!.stdout).not.toContain(SECRET);
    await expectHealthy(api, UID);
  });
});
