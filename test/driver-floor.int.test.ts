import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerMissing } from './helpers/docker.js';
import { startTestRunner, type TestRunner } from './helpers/runner.js';
import { removeRunnerState, submitJob } from './helpers/sandbox.js';

// One user's limits must not push everyone else's jobs onto a weaker driver.
const missing = await dockerMissing();
const skip = !!missing && process.env.CI !== 'true';

describe.skipIf(skip)('driver downgrade', () => {
  let r: TestRunner;
  beforeAll(async () => {
    if (missing) throw new Error(`driver floor tests need Docker and gVisor: ${missing}`);
    r = await startTestRunner({
      drivers: ['gvisor', 'docker', 'bwrap'],
      images_dir: process.env.PADDOCK_IMAGES_DIR ?? '',
      pool: { size: 0 },
    });
  }, 120_000);
  afterAll(async () => {
    await r?.close();
    if (r) removeRunnerState(r.dataDir);
  });

  it('/health shows the isolation floor: the strongest driver at start-up, per network mode', async () => {
    const health = await r.api('GET', '/health');
    expect(health.body.min_isolation).toEqual({ none: 'gvisor', egress: 'container' });
  });

  // Each side of bwrap's floors too (pids 10: the agent's threads count; open_files 4: a command's own).
  const tiny: Record<string, number>[] = [
    { pids: 1 }, { open_files: 1 }, { memory_mb: 6 }, { pids: 3 }, { memory_mb: 12 },
    { pids: 9 }, { pids: 10 }, { open_files: 3 }, { open_files: 4 }, { open_files: 16 }, { open_files: 17 },
  ];
  for (const driver of ['gvisor', 'docker', 'bwrap']) {
    it(`${driver}: limits too small to start a sandbox are refused at submit, never a driver_error`, async () => {
      for (const limits of tiny) {
        const res = await r.api('POST', '/v1/jobs?wait=true', { kind: 'command', command: ['true'], driver, limits });
        const ctx = JSON.stringify({ limits, body: res.body });
        if (res.status === 400) {
          expect(res.body.code, ctx).toBe('limit_too_small');
          expect(res.body.driver, ctx).toBe(driver);
          expect(typeof res.body.min, ctx).toBe('number');
          expect(res.body.detail, ctx).toMatch(new RegExp(`below the ${res.body.min} that driver ${driver} needs`));
        } else {
          // Accepted: then the sandbox must start, and the job ends on its own terms.
          expect(res.status, ctx).toBe(201);
          expect(res.body.reason, ctx).not.toBe('driver_error');
        }
      }
      // Every other user's `auto` job still gets the strongest driver.
      const job = await submitJob(r.api, { command: ['true'] });
      expect({ driver: job.driver, state: (job as any).state }).toEqual({ driver: 'gvisor', state: 'succeeded' });
    }, 120_000);
  }
});
