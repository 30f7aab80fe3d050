import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import type { Limits } from '../src/config/schema.js';
import { PaddockError } from '../src/errors.js';
import { BwrapDriver } from '../src/sandbox/bwrap/driver.js';
import { WORK_DIR } from '../src/sandbox/driver.js';
import { hostUser, leftoverProcesses, removeRunnerState } from './helpers/sandbox.js';

// open_files is each command's RLIMIT_NOFILE; bwrap and the agent have their own fds on top
// (chain.ts agentLimits). When bwrap and the agent ran under the job's limit, too few fds made
// bwrap's outer process fail after cloning the sandbox, and the child, still waiting for its go,
// was orphaned holding the sandbox's pipes: the start never ended; with a few more the sandbox
// started but its agent could not start a command. Now a job's small open_files fails only the
// job's own commands, promptly, and the sandbox goes on.
const UID = 61240;
const dirs: string[] = [];
const drivers: BwrapDriver[] = [];

afterAll(async () => {
  for (const d of drivers) await d.close();
  for (const dir of dirs) {
    removeRunnerState(dir);
    rmSync(dir, { recursive: true, force: true });
  }
});

async function driver(cgroups: 'auto' | 'off'): Promise<BwrapDriver> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-fdlimit-'));
  dirs.push(dataDir);
  const config = loadConfig({
    env: { PADDOCK_CONFIG: '' },
    // No warm pool: its idle sandboxes would be processes of these uids.
    flags: { data_dir: dataDir, log_level: 'silent', pool: { size: 0 }, sandbox: { ...hostUser(UID).sandbox, cgroups } },
  });
  const d = new BwrapDriver(config);
  drivers.push(d);
  const availability = await d.detect();
  expect(availability.available, JSON.stringify(availability)).toBe(true);
  return d;
}

const LIMITS: Limits = { timeout_ms: 5000, memory_mb: 64, cpu_ms: 5000, pids: 16, output_bytes: 4096, disk_mb: 1, open_files: 64, cpus: 1 };

/** Runs `echo ok` with `open_files` and `files` input files; rejects if it takes longer than `ms`. */
async function echo(d: BwrapDriver, openFiles: number, files = 0, ms = 5000) {
  const sandbox = await d.create({
    id: `fdlimit-${openFiles}-${files}-${Date.now()}`,
    network: 'none',
    files: Array.from({ length: files }, (_, i) => ({ path: `in-${i}`, content: Buffer.from('x') })),
    limits: { ...LIMITS, open_files: openFiles },
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const exec = sandbox.exec({ argv: ['/bin/echo', 'ok'], cwd: WORK_DIR, env: {} }, () => undefined, new AbortController().signal);
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`exec hung for ${ms} ms`)), ms);
    });
    return await Promise.race([exec, hung]);
  } finally {
    clearTimeout(timer);
    await sandbox.destroy();
  }
}

for (const cgroups of ['auto', 'off'] as const) {
  describe(`bwrap under a small open_files (cgroups ${cgroups})`, () => {
    it("fails only the job's own command, promptly, and leaves no process behind", async () => {
      const d = await driver(cgroups);
      const min = d.minLimits.open_files!;
      // Below the floor /bin/echo cannot open libc (ld.so: "Error 24"): its own exit 127.
      for (const [openFiles, files] of [[1, 0], [min - 1, 0], [min - 1, 3]] as const) {
        const t0 = Date.now();
        const r = await echo(d, openFiles, files);
        const ctx = JSON.stringify({ openFiles, files, r });
        expect({ exit: r.exitCode, stderr: r.stderr }, ctx).toEqual({ exit: 127, stderr: expect.stringMatching(/Error 24$/m) });
        expect(Date.now() - t0, ctx).toBeLessThan(3000);
        expect(await leftoverProcesses(UID), ctx).toEqual([]);
      }
      // The driver's own minimum starts (the submit check refuses what is below it, so it must be
      // the real one: min - 1 fails above), with input files (the agent's fds) too.
      for (const [openFiles, files] of [[min, 0], [min, 3], [17, 0]] as const) {
        const result = await echo(d, openFiles, files);
        expect({ openFiles, files, exit: result.exitCode, out: result.stdout }).toEqual({ openFiles, files, exit: 0, out: 'ok\n' });
      }
      // A command holds exactly open_files: the agent's own fds are not taken from it.
      const sandbox = await d.create({ id: `fdlimit-count-${Date.now()}`, network: 'none', files: [], limits: { ...LIMITS, open_files: 8 } });
      try {
        const script = 'exec 3</dev/null 4</dev/null 5</dev/null 6</dev/null 7</dev/null; ulimit -n; exec 8</dev/null; echo unreachable';
        const r = await sandbox.exec({ argv: ['/bin/sh', '-c', script], cwd: WORK_DIR, env: {} }, () => undefined, new AbortController().signal);
        expect({ out: r.stdout, exit: r.exitCode }).toEqual({ out: '8\n', exit: 2 }); // fds 0-7 open, the 9th refused
      } finally {
        await sandbox.destroy();
      }
    }, 60_000);
  });
}
