import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PgServer, postgresAvailable, startPostgres } from './helpers/postgres.js';
import { type ServerProcess, startServerProcess, stopServerProcess } from './helpers/server-process.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// A runner on a PostgreSQL that goes away for 10 s while a job runs (its own server: this test stops it).
describe.runIf(postgresAvailable())('PostgreSQL stopped for 10 s mid-run', () => {
  let pg: PgServer;
  let host: ServerProcess;
  beforeAll(async () => {
    pg = await startPostgres();
    const url = await pg.createDatabase();
    host = await startServerProcess(mkdtempSync(path.join(os.tmpdir(), 'paddock-outage-')), {
      PADDOCK_STORE_URL: url,
      PADDOCK_HOST_ID: 'host-a',
      PADDOCK_FLEET__HEARTBEAT_MS: '250',
      PADDOCK_FLEET__HOST_TIMEOUT_MS: '2000',
    });
  }, 60_000);
  afterAll(async () => {
    if (host) await stopServerProcess(host, 'SIGKILL');
    await pg?.close();
  });

  it('the running job keeps going and loses nothing; submits are 503 with Retry-After; /health degraded, then ok', async () => {
    const res = await host.api('POST', '/v1/jobs', { kind: 'command', script: 'echo before; sleep 6; echo after; exit 4' });
    expect(res.status).toBe(201);
    const id = (res.body as { id: string }).id;
    await sleep(1000);
    await pg.stop();
    const down = Date.now();

    let health: { status: string; problems: string[] } = { status: 'ok', problems: [] };
    while (health.status === 'ok' && Date.now() - down < 5000) {
      await sleep(200);
      health = (await host.api('GET', '/health')).body as typeof health;
    }
    expect(health.status).toBe('degraded');
    expect(health.problems.join(' ')).toMatch(/store_unavailable/);
    const refused = await host.api('POST', '/v1/jobs', { kind: 'command', command: ['true'] });
    expect(refused.status).toBe(503);
    expect((refused.body as { code: string }).code).toBe('store_unavailable');
    expect(refused.headers.get('retry-after')).toBe('5');
    // Reads need the store too: the same answer, not a 500.
    expect((await host.api('GET', `/v1/jobs/${id}`)).status).toBe(503);

    await sleep(Math.max(0, 10_000 - (Date.now() - down)));
    await pg.start();

    const t0 = Date.now();
    let job: { state: string; result?: { stdout?: string; exit_code?: number } } = { state: 'running' };
    while (!['succeeded', 'failed'].includes(job.state) && Date.now() - t0 < 20_000) {
      await sleep(300);
      const r = await host.api('GET', `/v1/jobs/${id}`);
      if (r.status === 200) job = r.body as typeof job;
    }
    // Its end and the output it printed while the database was away, recorded once it was back.
    expect({ state: job.state, exit: job.result?.exit_code, out: job.result?.stdout }).toEqual({ state: 'failed', exit: 4, out: 'before\nafter\n' });
    while (health.status !== 'ok' && Date.now() - t0 < 20_000) {
      await sleep(200);
      health = (await host.api('GET', '/health')).body as typeof health;
    }
    expect(health).toMatchObject({ status: 'ok', problems: [] });
    expect((await host.api('POST', '/v1/jobs?wait=true', { kind: 'command', command: ['true'] })).body).toMatchObject({ state: 'succeeded' });
  }, 90_000);
});
