import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judge, judgeDrivers, startJudgeRunner, SUM_PROGRAMS, SUM_TESTS } from './helpers/judge-env.js';
import type { TestRunner } from './helpers/runner.js';

// Hostile programs get the right verdict and nothing else, on every driver; the next submission
// on the same runner is unaffected.
const CI = process.env.CI === 'true';
const cases = await judgeDrivers({ bwrapUid: 64_700, dockerUid: 350_000 });
const LIMITS = { cpu_time_ms: 1000, wall_time_ms: 2000, memory_mb: 64, pids: 32, output_bytes: 64 * 1024, file_size_kb: 256 };

/** Host processes whose command line holds `marker` (under gVisor they live in its kernel, so none ever shows). */
function hostProcessesWith(marker: string): number[] {
  const found: number[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(marker)) found.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

const C = {
  // Every page touched through a volatile pointer, so the compiler cannot drop the allocation.
  alloc4g: '#include <stdio.h>\n#include <stdlib.h>\nint main(void) { size_t n = 4UL << 30; volatile char *p = malloc(n); if (!p) return 3; for (size_t i = 0; i < n; i += 4096) p[i] = 1; printf("%d\\n", p[n - 4096]); return 0; }\n',
  forkBomb: '#include <unistd.h>\nint main(void) { for (;;) fork(); }\n',
  spin: 'int main(void) { volatile unsigned long x = 0; for (;;) x++; }\n',
  ptrace: '#include <stdio.h>\n#include <sys/ptrace.h>\n#include <sys/mount.h>\nint main(void) { long a = ptrace(PTRACE_TRACEME, 0, 0, 0); int b = mount("none", "/work", "tmpfs", 0, 0); printf("%ld %d\\n", a, b); return 0; }\n',
};

describe.each(cases)('hostile judge submissions ($driver)', ({ driver, missing, flags }) => {
  let runner: TestRunner;
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    runner = await startJudgeRunner(flags);
  });
  if (missing && !CI) return void it.skip(`needs: ${missing}`);
  afterAll(() => runner?.close());

  const one = async (language: string, source: string, tests: Record<string, unknown>[] = [{}]) => {
    const started = Date.now();
    const job = await judge(runner, { language, source, tests, limits: LIMITS });
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
    return { r: job.result, ms: Date.now() - started };
  };

  it('a fork bomb: time_limit_exceeded within the wall time, the pids cap held, nothing left behind', async () => {
    const { r, ms } = await one('c', C.forkBomb);
    expect(r.tests[0], JSON.stringify(r.tests[0])).toMatchObject({ verdict: 'time_limit_exceeded' });
    expect(ms).toBeLessThan(30_000);
    const after = await one('bash', 'echo alive\n', [{ expected_output: 'alive\n' }]);
    expect(after.r.verdict).toBe('accepted');
  }, 60_000);

  it('4 GiB allocated and touched: memory_limit_exceeded', async () => {
    const { r } = await one('c', C.alloc4g);
    expect(r.tests[0], JSON.stringify(r.tests[0])).toMatchObject({ verdict: 'memory_limit_exceeded', limit: 'memory' });
  }, 60_000);

  it('a Python program over its memory: memory_limit_exceeded', async () => {
    const { r } = await one('python', 'x = bytearray(200 * 1024 * 1024)\nprint(len(x))\n');
    expect(r.tests[0], JSON.stringify(r.tests[0])).toMatchObject({ verdict: 'memory_limit_exceeded' });
  }, 60_000);

  it('printing forever: output_limit_exceeded, the output cut at its limit', async () => {
    const { r } = await one('python', 'while True:\n    print("y" * 1000)\n');
    expect(r.tests[0]).toMatchObject({ verdict: 'output_limit_exceeded', limit: 'output' });
    expect(Buffer.byteLength(r.tests[0].stdout)).toBeLessThanOrEqual(64 * 1024);
  }, 60_000);

  it('spinning on the CPU: time_limit_exceeded (cpu), sleeping forever: time_limit_exceeded (wall)', async () => {
    const spin = await one('c', C.spin);
    expect(spin.r.tests[0], JSON.stringify(spin.r.tests[0])).toMatchObject({ verdict: 'time_limit_exceeded', limit: 'cpu' });
    const sleep = await one('python', 'import time\ntime.sleep(3600)\n');
    expect(sleep.r.tests[0], JSON.stringify(sleep.r.tests[0])).toMatchObject({ verdict: 'time_limit_exceeded', limit: 'wall' });
    expect(sleep.ms).toBeLessThan(20_000);
  }, 60_000);

  it('host files, the host network, writing outside /work, ptrace and mount: refused, nothing of the host printed', async () => {
    const hostShadow = readFileSync('/etc/shadow', 'utf8');
    const rootHash = /^root:([^:]*):/m.exec(hostShadow)?.[1] ?? '';
    const read = await one('bash', 'cat /etc/shadow; cat /proc/1/environ; ls /root; echo done\n');
    if (rootHash.length > 2) expect(read.r.tests[0].stdout).not.toContain(rootHash);
    const net = await one('python', 'import socket\ns = socket.create_connection(("127.0.0.1", 22), timeout=1)\nprint("connected")\n');
    expect(net.r.tests[0].stdout).not.toContain('connected');
    expect(net.r.tests[0].verdict).toBe('runtime_error');
    const write = await one('bash', 'echo x > /etc/pwned && echo wrote; echo x > /usr/pwned && echo wrote; echo ok > /work/mine && cat /work/mine\n');
    expect(write.r.tests[0].stdout).toBe('ok\n');
    const priv = await one('c', C.ptrace);
    expect(priv.r.tests[0].stdout).toMatch(/^-?\d+ -1\n$/);
  }, 90_000);

  it('background processes left by a test are killed, never counted against the next one', async () => {
    const marker = `judge-bg-${Date.now()}`;
    const { r } = await one('bash', `if [ "$1" = first ]; then (exec -a ${marker} sleep 600 &) ; setsid bash -c 'while :; do :; done' & echo started; else sleep 0.5; echo second; fi\n`, [
      { name: 'first', args: ['first'], expected_output: 'started\n' },
      { name: 'second', args: ['second'], expected_output: 'second\n' },
    ]);
    expect(r.tests.map((t: { verdict: string }) => t.verdict), JSON.stringify(r.tests)).toEqual(['accepted', 'accepted']);
    // The spinning leftover would have eaten the second test's CPU time.
    expect(r.tests[1].cpu_ms).toBeLessThan(300);
    expect(hostProcessesWith(marker)).toEqual([]);
  }, 60_000);

  it('a symlink the program leaves in the work dir is never followed by the host; the next test gets its own file', async () => {
    const { r } = await one('bash', 'if [ "$1" = first ]; then ln -sf /etc/passwd input.txt; ln -sf /etc data; echo linked; else cat input.txt; fi\n', [
      { name: 'first', args: ['first'], expected_output: 'linked\n' },
      { name: 'second', args: ['second'], files: [{ name: 'input.txt', content: 'mine\n' }], expected_output: 'mine\n' },
    ]);
    expect(r.tests.map((t: { verdict: string }) => t.verdict), JSON.stringify(r.tests)).toEqual(['accepted', 'accepted']);
    expect(readFileSync('/etc/passwd', 'utf8')).not.toContain('mine');
  }, 60_000);

  it('the next submission on the same runner is judged as if nothing happened', async () => {
    const job = await judge(runner, { language: 'python', source: SUM_PROGRAMS.python, tests: SUM_TESTS });
    expect(job.result.verdict, JSON.stringify(job.result)).toBe('accepted');
  }, 60_000);
});
