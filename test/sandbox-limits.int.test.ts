import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRunner, type TestRunner } from './helpers/runner.js';
import {
  type Api,
  expectHealthy,
  hostUser,
  jobEvents,
  processesOfUid,
  removeRunnerState,
  sleep,
  submitJob,
} from './helpers/sandbox.js';

// Hostile jobs against a real runner (real bwrap, cgroups when root). Every job
// is followed by expectHealthy: /health ok, `echo ok` works, no sandbox process left.
const UID = 61201;
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

describe('output limits', () => {
  it('cuts a 100 MiB stdout flood at output_bytes, quickly', async () => {
    const cap = 65_536;
    const started = Date.now();
    const job = await submitJob(api, {
      script: "head -c 104857600 /dev/zero | tr '\\0' a",
      limits: { output_bytes: cap, timeout_ms: 60_000 },
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(job.state).not.toBe('timed_out');
    expect(job.result!.stdout_truncated).toBe(true);
    expect(job.result!.stdout.length).toBe(cap);
    expect(job.result!.stdout).toBe('a'.repeat(cap));
    // What is stored for replay is capped too.
    const stored = (await jobEvents(api, job.id)).filter((e) => e.type === 'stdout');
    expect(stored.reduce((n, e) => n + e.data.data.length, 0)).toBe(cap);
    await expectHealthy(api, UID);
  }, 30_000);

  it('cuts an endless stderr flood (yes) at output_bytes', async () => {
    const job = await submitJob(api, { script: 'yes >&2', limits: { output_bytes: 1000, timeout_ms: 20_000 } });
    expect(job.state).not.toBe('timed_out');
    expect(job.result!.stderr_truncated).toBe(true);
    expect(job.result!.stderr.slice(0, 1000)).toBe('y\n'.repeat(500));
    await expectHealthy(api, UID);
  }, 30_000);

  it('keeps multi-byte UTF-8 intact, also across pipe chunks and at the cap', async () => {
    const text = 'héllo wörld — 日本語 🎉 ✓\n'.repeat(5000); // ~180 KB: many 64 KiB pipe reads
    const whole = await submitJob(api, { command: ['cat', 'u.txt'], files: [{ path: 'u.txt', content: text }] });
    expect(whole.state).toBe('succeeded');
    expect(whole.result!.stdout).toBe(text);

    // 4002 bytes of room: 1000 four-byte emoji fit, the 1001st must not be split.
    const capped = await submitJob(api, {
      command: ['cat', 'e.txt'],
      files: [{ path: 'e.txt', content: '🎉'.repeat(2000) }],
      limits: { output_bytes: 4002 },
    });
    expect(capped.result!.stdout_truncated).toBe(true);
    expect(capped.result!.stdout).toBe('🎉'.repeat(1000));
    await expectHealthy(api, UID);
  }, 30_000);

  it('binary garbage on stdout and stderr still gives valid JSON everywhere', async () => {
    const job = await submitJob(api, { script: 'head -c 200000 /dev/urandom; head -c 5000 /dev/urandom >&2' });
    expect(job.state).toBe('succeeded');
    expect(typeof job.result!.stdout).toBe('string');
    expect(job.result!.stdout).toContain('\uFFFD'); // invalid sequences replaced, not dropped silently
    const again = await api('GET', `/v1/jobs/${job.id}`);
    expect(again.status).toBe(200);
    expect(again.body.result.stdout).toBe(job.result!.stdout);
    const listed = await api('GET', '/v1/jobs?limit=5');
    expect(Array.isArray(listed.body.jobs)).toBe(true);
    expect((await jobEvents(api, job.id)).some((e) => e.type === 'stdout')).toBe(true);
    await expectHealthy(api, UID);
  }, 30_000);

  it('U+2028/U+2029 in output stay inside one SSE data line (line readers split on them)', async () => {
    const job = await submitJob(api, { script: "printf 'a\\342\\200\\250b\\342\\200\\251c'" });
    expect(job.result!.stdout).toBe('a\u2028b\u2029c');
    const events = await jobEvents(api, job.id);
    expect(events.filter((e) => e.type === 'stdout').map((e) => (e.data as { data: string }).data).join('')).toBe('a\u2028b\u2029c');
  }, 30_000);
});

describe('time, CPU and memory', () => {
  it('times out a job that sleeps forever', async () => {
    const job = await submitJob(api, { command: ['sleep', 'infinity'], limits: { timeout_ms: 1000 } });
    expect(job.state).toBe('timed_out');
    expect(job.reason).toBe('timeout');
    expect(job.result!.timed_out).toBe(true);
    expect(job.result!.wall_ms).toBeGreaterThanOrEqual(900);
    expect(job.result!.wall_ms).toBeLessThan(5000);
    await expectHealthy(api, UID);
  }, 30_000);

  it('stops a CPU burn at cpu_ms, long before its timeout', async () => {
    const job = await submitJob(api, { script: 'while :; do :; done', limits: { cpu_ms: 1000, timeout_ms: 60_000 } });
    expect(job.state).toBe('failed');
    expect(job.reason).toBe('cpu_limit');
    expect(job.result!.limit).toBe('cpu');
    expect(job.result!.cpu_ms).toBeGreaterThanOrEqual(900);
    expect(job.result!.wall_ms).toBeLessThan(20_000);
    await expectHealthy(api, UID);
  }, 60_000);

  it('bounds the CPU of the whole job, not of each process', async () => {
    // Each child burns well under 1 s, so no single process ever reaches RLIMIT_CPU.
    const job = await submitJob(api, {
      script: 'while :; do sh -c \'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done\'; done',
      limits: { cpu_ms: 1000, timeout_ms: 10_000 },
    });
    const outcome = { state: job.state, reason: job.reason };
    expect(outcome, `job used cpu_ms=${job.result?.cpu_ms}`).toEqual({ state: 'failed', reason: 'cpu_limit' });
    expect(job.result!.cpu_ms).toBeLessThan(3000);
    await expectHealthy(api, UID);
  }, 60_000);

  it.each([
    ['python', { command: ['python3', '-c', 'a=[]\nwhile True: a.append(bytearray(10**7))'] }],
    ['tail', { script: 'head -c 2G /dev/zero | tail' }],
  ])('kills a memory bomb (%s) at the cgroup limit: failed, memory_limit', async (_name, spec) => {
    // The cgroup allows memory_mb plus both tmpfs disks (tmpfs pages are charged to the job).
    const limits = { memory_mb: 64, disk_mb: 8, timeout_ms: 30_000 };
    const job = await submitJob(api, { ...spec, limits });
    expect(job.state).toBe('failed');
    expect(job.reason).toBe('memory_limit');
    expect(job.result!.limit).toBe('memory');
    expect(job.result!.max_rss_kb).toBeLessThanOrEqual((64 + 2 * 8) * 1024);
    expect(job.result!.wall_ms).toBeLessThan(20_000);
    await expectHealthy(api, UID);
  }, 60_000);
});

describe('processes, disk and files', () => {
  it('contains a fork bomb to limits.pids and leaves nothing behind', async () => {
    const pids = 32;
    // The outer shell waits, so the bomb keeps going until the timeout kills it.
    const pending = submitJob(api, {
      command: ['bash', '-c', 'b(){ b|b& }; b; sleep 60'],
      limits: { pids, timeout_ms: 5000 },
    });
    let peak = 0;
    let slowestHealth = 0;
    let done = false;
    pending.then(
      () => (done = true),
      () => (done = true),
    );
    while (!done) {
      peak = Math.max(peak, processesOfUid(UID).length);
      const t = Date.now();
      expect((await api('GET', '/health')).status).toBe(200);
      slowestHealth = Math.max(slowestHealth, Date.now() - t);
      await sleep(200);
    }
    const job = await pending;
    expect(['timed_out', 'failed']).toContain(job.state);
    expect(job.result!.wall_ms).toBeLessThan(15_000);
    expect(peak).toBeGreaterThan(pids / 2); // the bomb did run...
    expect(peak).toBeLessThanOrEqual(pids + 2); // ...within the cgroup (+ bwrap's outer process)
    expect(slowestHealth).toBeLessThan(3000);
    await expectHealthy(api, UID);
  }, 60_000);

  it.each(['/tmp', '/work'])('caps %s at disk_mb: a second file gets "No space left"', async (dir) => {
    const job = await submitJob(api, {
      script: [
        `dd if=/dev/zero of=${dir}/a bs=1M count=1000 2>/dev/null`,
        `dd if=/dev/zero of=${dir}/b bs=1M count=1000; rc=$?`,
        `echo "kb=$(du -sk ${dir} | cut -f1) size=$(df -k ${dir} | awk 'NR==2 {print $2}')"`,
        'exit $rc',
      ].join('\n'),
      limits: { disk_mb: 8 },
    });
    expect(job.state).toBe('failed');
    expect(job.result!.exit_code).not.toBe(0);
    expect(job.result!.stderr).toContain('No space left on device');
    const m = /kb=(\d+) size=(\d+)/.exec(job.result!.stdout);
    expect(m, job.result!.stdout).not.toBeNull();
    expect(Number(m![2])).toBe(8192);
    expect(Number(m![1])).toBeLessThanOrEqual(8192);
    expect(Number(m![1])).toBeGreaterThan(4096); // the first file did fill it
    await expectHealthy(api, UID);
  }, 30_000);

  it('stops one file at disk_mb even before the tmpfs is full (RLIMIT_FSIZE)', async () => {
    const job = await submitJob(api, {
      script: 'dd if=/dev/zero of=/tmp/f bs=1M count=1000',
      limits: { disk_mb: 8 },
    });
    expect(job.state).toBe('failed');
    expect(job.result!.exit_code).not.toBe(0);
    await expectHealthy(api, UID);
  }, 30_000);

  it('enforces open_files: ulimit -n equals the limit and the next open fails with EMFILE', async () => {
    const py = 'import os\nfds=[]\ntry:\n  while True: fds.append(os.open("/dev/null", os.O_RDONLY))\nexcept OSError as e:\n  print(max(fds)+1, e.errno)';
    const job = await submitJob(api, {
      script: `ulimit -Sn; ulimit -Hn; python3 -c '${py}'`,
      limits: { open_files: 37 },
    });
    expect(job.state, job.result?.stderr).toBe('succeeded');
    expect(job.result!.stdout).toBe('37\n37\n37 24\n'); // highest fd + 1 == limit; errno 24 = EMFILE
    await expectHealthy(api, UID);
  }, 30_000);
});
