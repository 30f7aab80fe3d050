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

// bwrap and the sandbox's agent run under the job's RLIMIT_NOFILE. With too few fds bwrap's
// outer process failed after cloning the sandbox (opening /proc/PID/ns), and the child, still
// waiting for its go, was orphaned holding the sandbox's pipes: the start never ended. With a
// few more, the sandbox starts but its agent cannot start a command.
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
    it('fails promptly, as the job’s open_files, and leaves no process behind', async () => {
      const d = await driver(cgroups);
      // 10 (9 without cgroups: no block fd): bwrap's clone succeeds, then its next open fails
      // (the case that hung); below, it fails before the clone; at 11 … 16 the sandbox starts
      // but its agent (8 fds of its own) cannot start the command, with input files or not.
      const min = d.minLimits.open_files!;
      for (const [openFiles, files] of [[10, 0], [9, 0], [4, 0], [11, 0], [16, 0], [16, 3], [min - 1, 0]] as const) {
        const t0 = Date.now();
        const err = await echo(d, openFiles, files).then(
          (r) => new Error(`started: ${JSON.stringify(r)}`),
          (e: unknown) => e,
        );
        const ctx = JSON.stringify({ openFiles, files, err: String(err) });
        expect(err, ctx).toBeInstanceOf(PaddockError);
        expect((err as PaddockError).code, ctx).toBe('limit_too_small');
        expect((err as PaddockError).message, ctx).toMatch(`limits.open_files = ${openFiles}`);
        expect(Date.now() - t0, ctx).toBeLessThan(3000);
        expect(await leftoverProcesses(UID), ctx).toEqual([]);
      }
      // One more fd than the failing case starts, and so does the driver's own minimum (the
      // submit check refuses what is below it, so it must be the real one: min - 1 fails above).
      for (const [openFiles, files] of [[17, 0], [min, 0], [min, 3]] as const) {
        const result = await echo(d, openFiles, files);
        expect({ openFiles, files, exit: result.exitCode, out: result.stdout }).toEqual({ openFiles, files, exit: 0, out: 'ok\n' });
      }
    }, 60_000);
  });
}
