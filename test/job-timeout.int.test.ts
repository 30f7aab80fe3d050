import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { BwrapDriver } from '../src/sandbox/bwrap/driver.js';
import type { SandboxDriver } from '../src/sandbox/driver.js';
import { createLogger } from '../src/util/log.js';
import type { TestRunner } from './helpers/runner.js';
import { startSandboxRunner } from './helpers/sandbox-runner.js';

/** The real bwrap driver, each create first waiting `ms`, as a driver on a loaded host does. */
function slowToCreate(driver: SandboxDriver, ms: number): SandboxDriver {
  return new Proxy(driver, {
    get(target, key) {
      if (key === 'create') {
        return async (...args: Parameters<SandboxDriver['create']>) => {
          await new Promise((r) => setTimeout(r, ms));
          return target.create(...args);
        };
      }
      const value = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

// timeout_ms is the command's time, counted from its start: a driver slow to make the sandbox (a
// loaded host: CI once saw a 1000 ms job's command get 889 ms) must not eat into it.
describe('a command job whose sandbox is slow to start', () => {
  let runner: TestRunner;
  beforeAll(async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-test-'));
    const config = loadConfig({ env: {}, flags: { data_dir: dataDir, drivers: ['bwrap'], log_level: 'silent' } });
    runner = await startSandboxRunner(slowToCreate(new BwrapDriver(config, { log: createLogger('silent') }), 1500), { data_dir: dataDir });
  });
  afterAll(() => runner?.close());

  it('gets its whole timeout_ms once it runs, then times out', async () => {
    const t0 = Date.now();
    const res = await runner.api('POST', '/v1/jobs?wait=true', {
      kind: 'command',
      driver: 'bwrap',
      command: ['sleep', '100'],
      limits: { timeout_ms: 1000 },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const job = res.body as { state: string; reason: string; result: { timed_out: boolean; wall_ms: number; limit?: string } };
    expect({ state: job.state, reason: job.reason, timed_out: job.result.timed_out }).toEqual({ state: 'timed_out', reason: 'timeout', timed_out: true });
    expect(job.result.wall_ms).toBeGreaterThanOrEqual(1000);
    expect(job.result.limit).toBeUndefined();
    // Its time plus the slow start, not the job's setup allowance.
    expect(Date.now() - t0).toBeLessThan(1500 + 1000 + 3000);
  }, 30_000);

  it('one that ends in time succeeds although start and run together take longer than timeout_ms', async () => {
    const res = await runner.api('POST', '/v1/jobs?wait=true', {
      kind: 'command',
      driver: 'bwrap',
      command: ['sleep', '0.5'],
      limits: { timeout_ms: 1000 },
    });
    expect((res.body as { state: string }).state).toBe('succeeded');
  }, 30_000);
});
