import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRunner, type TestRunner } from './helpers/runner.js';
import { type Api, hostUser, processesOfUid, removeRunnerState, sleep, submitJob, waitForJob } from './helpers/sandbox.js';

// Defence in depth for bwrap sandboxes: seccomp, one host uid each, CPU rate, big scripts.
const UID = 61230;
let runner: TestRunner;
let api: Api;

beforeAll(async () => {
  runner = await startTestRunner({ max_concurrent_jobs: 2, ...hostUser(UID) });
  api = runner.api;
});

afterAll(async () => {
  await runner?.close();
  if (runner) removeRunnerState(runner.dataDir);
});

// Names Docker's default profile refuses; numbers resolved on the host by libseccomp,
// independently of the policy under test.
const DENIED = [
  'keyctl', 'add_key', 'request_key', 'bpf', 'userfaultfd', 'perf_event_open', 'kexec_load', 'kexec_file_load',
  'init_module', 'finit_module', 'delete_module', 'open_by_handle_at', 'name_to_handle_at', 'mount', 'umount2',
  'pivot_root', 'swapon', 'swapoff', 'reboot', 'settimeofday', 'clock_settime', 'acct', 'quotactl', 'iopl', 'ioperm',
  'lookup_dcookie', 'setns', 'io_uring_setup', 'fsopen', 'open_tree',
];

function syscallNumbers(names: string[]): Record<string, number> {
  const py = 'import json,sys,seccomp; print(json.dumps({n: seccomp.resolve_syscall(seccomp.Arch.NATIVE, n) for n in sys.argv[1:]}))';
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', py, ...names], { encoding: 'utf8' }));
}

/** Python run inside the sandbox (the host's /usr): calls each number, prints `name errno`. */
const CALLER = `
import ctypes, json, sys
libc = ctypes.CDLL(None, use_errno=True)
for name, nr, args in json.loads(sys.argv[1]):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    print(name, 0 if r >= 0 else ctypes.get_errno())
`;

/** Host uids of the range that run a job's processes (warm sandboxes left out, see processesOfUid). */
function hostUidsOfRange(): Set<number> {
  return new Set(processesOfUid(UID).map((p) => p.uid));
}

describe('bwrap seccomp', () => {
  it('refuses what Docker refuses (EPERM; clone3 ENOSYS), and normal programs still work', async () => {
    const nrs = syscallNumbers([...DENIED, 'unshare', 'clone3', 'personality', 'getpid']);
    const calls = [
      ...DENIED.map((n) => [n, nrs[n], [0, 0, 0, 0]]),
      ['unshare_newnet', nrs.unshare, [0x40000000]],
      ['unshare_newns', nrs.unshare, [0x00020000]],
      ['clone3', nrs.clone3, [0, 0]],
      ['personality_no_aslr', nrs.personality, [0x0040000]],
      ['personality_linux', nrs.personality, [0]],
      ['getpid', nrs.getpid, []],
    ];
    const job = await submitJob(api, {
      command: ['/usr/bin/python3', '-c', CALLER, JSON.stringify(calls)],
      limits: { timeout_ms: 20_000 },
    });
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
    const errnos = Object.fromEntries(job.result!.stdout.trim().split('\n').map((l) => l.split(' ')).map(([n, e]) => [n, Number(e)]));
    for (const n of [...DENIED, 'unshare_newnet', 'unshare_newns', 'personality_no_aslr']) expect([n, errnos[n]]).toEqual([n, 1]);
    expect(errnos.clone3).toBe(38);
    expect(errnos.personality_linux).toBe(0);
    expect(errnos.getpid).toBe(0);

    // Threads (clone3 falls back to clone), forks and a shell pipeline are unaffected.
    const normal = await submitJob(api, {
      script: `python3 -c 'import threading, subprocess; t = threading.Thread(target=print, args=("thread",)); t.start(); t.join(); print(subprocess.run(["echo", "child"], capture_output=True, text=True).stdout.strip())' && echo a b | wc -w`,
    });
    expect(normal.state, JSON.stringify(normal)).toBe('succeeded');
    expect(normal.result!.stdout).toBe('thread\nchild\n2\n');
  }, 60_000);
});

describe('bwrap host uids', () => {
  it('gives each running sandbox its own host uid, so one job’s inotify instances do not starve another', async () => {
    const max = Number(readFileSync('/proc/sys/fs/inotify/max_user_instances', 'utf8'));
    // Job 1 takes every inotify instance its uid may have, and holds them.
    const hog = `
import ctypes, time
libc = ctypes.CDLL(None, use_errno=True)
n = 0
while n < ${max} and libc.inotify_init1(0) >= 0:
    n += 1
print(n, flush=True)
time.sleep(4)
`;
    const late = `
import ctypes, os, time
time.sleep(1.5)
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(0)
print("ok" if fd >= 0 else "errno %d" % ctypes.get_errno())
`;
    const limits = { timeout_ms: 20_000, open_files: max + 64 };
    const [a, b] = await Promise.all([
      submitJob(api, { command: ['/usr/bin/python3', '-c', hog], limits }, false),
      submitJob(api, { command: ['/usr/bin/python3', '-c', late], limits }, false),
    ]);
    let seen = new Set<number>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      await sleep(100);
      seen = hostUidsOfRange();
    }
    expect(seen.size, `host uids of the two running sandboxes: ${[...seen]}`).toBe(2);
    const ended = (j: { state: string }) => !['queued', 'running'].includes(j.state);
    const [ja, jb] = await Promise.all([waitForJob(api, a.id, ended), waitForJob(api, b.id, ended)]);
    expect(ja.result?.stdout, JSON.stringify(ja)).toBe(`${max}\n`);
    expect(jb.result?.stdout, JSON.stringify(jb)).toBe('ok\n');
  }, 60_000);

  it('writes a job’s input files through the agent, as the sandbox user, staging nothing on the host', async () => {
    const job = await submitJob(api, { script: 'stat -c "%U %a" in.txt sub/run.sh; cat in.txt; sleep 1.5', files: [{ path: 'in.txt', content: 'x' }, { path: 'sub/run.sh', content: 'y', mode: 0o755 }] }, false);
    await waitForJob(api, job.id, (j) => j.state === 'running');
    await sleep(200);
    // Nothing of the job's on the host while it runs: no staging dir in the data dir.
    expect(existsSync(path.join(runner.dataDir, 'sandboxes', job.id))).toBe(false);
    const done = await waitForJob(api, job.id, (j) => !['queued', 'running'].includes(j.state));
    expect(done.result?.stdout).toBe('sandbox 644\nsandbox 755\nx');
  }, 30_000);
});

describe('bwrap CPU rate', () => {
  // Two busy processes for ~1.5 s of wall time.
  const burn = '(while :; do :; done) & a=$!; (while :; do :; done) & b=$!; sleep 1.5; kill $a $b';

  it('bounds the whole tree by limits.cpus', async () => {
    const half = await submitJob(api, { script: burn, limits: { cpus: 0.5, timeout_ms: 20_000 } });
    expect(half.state, JSON.stringify(half)).toBe('succeeded');
    const { cpu_ms: halfCpu, wall_ms: halfWall } = half.result!;
    // 0.5 cores' worth, plus up to one 100 ms period of slack.
    expect(halfCpu, `cpu ${halfCpu} ms in ${halfWall} ms`).toBeLessThan(0.5 * halfWall + 250);
    expect(halfCpu).toBeGreaterThan(0.2 * halfWall);

    const two = await submitJob(api, { script: burn, limits: { cpus: 2, timeout_ms: 20_000 } });
    expect(two.state, JSON.stringify(two)).toBe('succeeded');
    expect(two.result!.cpu_ms, JSON.stringify(two.result)).toBeGreaterThan(halfCpu * 1.4);
  }, 60_000);
});

describe('bwrap big scripts', () => {
  it('runs a script far larger than one argv argument may be', async () => {
    const script = `${'x=1\n'.repeat(75_000)}echo "done $x"\n`;
    expect(script.length).toBeGreaterThan(300_000);
    const job = await submitJob(api, { script, limits: { timeout_ms: 20_000 } });
    expect(job.state, JSON.stringify(job).slice(0, 2000)).toBe('succeeded');
    expect(job.result!.stdout).toBe('done 1\n');
  }, 60_000);
});
