import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { deadUrl } from './helpers/ports.mjs';
import { type PgServer, postgresAvailable, startPostgres } from './helpers/postgres.js';
import { type ServerProcess, startServerProcess, stopServerProcess } from './helpers/server-process.js';

// Real `paddock serve` processes on one real PostgreSQL: each registers in the host registry and
// heartbeats; any of them answers GET /v1/hosts for all; a silent one turns lost.
describe.runIf(postgresAvailable())('a fleet of runners on PostgreSQL: hosts', () => {
  let pg: PgServer;
  let url: string;
  let a: ServerProcess;
  let b: ServerProcess;
  let token: string;
  const dirA = mkdtempSync(path.join(os.tmpdir(), 'paddock-fleet-a-'));
  const dirB = mkdtempSync(path.join(os.tmpdir(), 'paddock-fleet-b-'));
  const fleetEnv = (host: string) => ({
    PADDOCK_STORE_URL: url,
    PADDOCK_HOST_ID: host,
    PADDOCK_FLEET__HEARTBEAT_MS: '200',
    PADDOCK_FLEET__HOST_TIMEOUT_MS: '1500',
    PADDOCK_FLEET__LABELS__REGION: host === 'host-a' ? 'eu' : 'us',
  });

  beforeAll(async () => {
    pg = await startPostgres();
    url = await pg.createDatabase();
    a = await startServerProcess(dirA, fleetEnv('host-a'));
    // Tokens are fleet-wide: the second host makes no admin token of its own; it is given the first's.
    token = readFileSync(path.join(dirA, 'admin.token'), 'utf8').trim();
    copyFileSync(path.join(dirA, 'admin.token'), path.join(dirB, 'admin.token'));
    b = await startServerProcess(dirB, fleetEnv('host-b'));
  }, 60_000);
  afterAll(async () => {
    for (const s of [a, b]) if (s) await stopServerProcess(s, 'SIGKILL');
    await pg?.close();
  });

  it('each host lists both, up, with their labels, drivers and capacity', async () => {
    for (const s of [a, b]) {
      const res = await s.api('GET', '/v1/hosts');
      expect(res.status).toBe(200);
      const body = res.body as { self: string; hosts: { id: string; health: string; labels: Record<string, string>; drivers: { name: string }[]; capacity: number; address: string | null }[] };
      expect(body.self).toBe(s === a ? 'host-a' : 'host-b');
      expect(body.hosts.map((h) => [h.id, h.health, h.labels.region])).toEqual([
        ['host-a', 'up', 'eu'],
        ['host-b', 'up', 'us'],
      ]);
      expect(body.hosts[0]!.drivers.map((d) => d.name)).toEqual(['bwrap']);
      expect(body.hosts[0]!.capacity).toBeGreaterThan(0);
      expect(body.hosts[0]!.address).toBeNull();
    }
  });

  it('the token of one host works on the other; a job runs and its output is stored in PostgreSQL', async () => {
    const res = await b.api('POST', '/v1/jobs?wait=true', { kind: 'command', script: 'printf "on pg\\n"; printf err >&2; exit 3' });
    expect(res.status).toBe(201);
    const job = res.body as { id: string; state: string; result: { exit_code: number; stdout: string; stderr: string } };
    expect({ state: job.state, exit: job.result.exit_code, out: job.result.stdout, err: job.result.stderr }).toEqual({
      state: 'failed',
      exit: 3,
      out: 'on pg\n',
      err: 'err',
    });
    // Read through the other host: one store.
    const seen = await a.api('GET', `/v1/jobs/${job.id}`);
    expect((seen.body as { state: string }).state).toBe('failed');
  });

  it('paddock hosts ls prints the fleet, marking the host it asked', async () => {
    const r = await runCli(['hosts', 'ls'], { url: a.url, token });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.toString().trim().split('\n');
    expect(lines[0]).toMatch(/^HOST\s+HEALTH\s+RUNNING\s+ADDRESS\s+DRIVERS\s+LABELS/);
    expect(lines[1]).toMatch(/^host-a \*\s+up\s+0\/\d+\s+-\s+bwrap\s+region=eu/);
    expect(lines[2]).toMatch(/^host-b\s+up\s+0\/\d+\s+-\s+bwrap\s+region=us/);
  });

  it('the CLI takes several runner URLs and goes on to the next when one cannot be reached', async () => {
    const [dead1, dead2] = [await deadUrl(), await deadUrl()];
    const r = await runCli(['run', '--', 'echo', 'failed-over'], { url: `${dead1},${b.url}`, token });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe('failed-over\n');
    const none = await runCli(['hosts', 'ls'], { url: `${dead1},${dead2}`, token });
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain(`cannot reach ${dead2}`);
  });

  it('kill -9 of one host: the other soon sees it lost; SIGTERM of the other leaves it stopped, exit 0', async () => {
    await stopServerProcess(b, 'SIGKILL');
    const t0 = Date.now();
    let health = 'up';
    while (health !== 'lost' && Date.now() - t0 < 10_000) {
      await new Promise((r) => setTimeout(r, 200));
      const body = (await a.api('GET', '/v1/hosts')).body as { hosts: { id: string; health: string }[] };
      health = body.hosts.find((h) => h.id === 'host-b')!.health;
    }
    expect(health).toBe('lost');
    // host_timeout_ms 1500 plus a beat or two, not much more.
    expect(Date.now() - t0).toBeLessThan(4000);

    const stopped = await stopServerProcess(a, 'SIGTERM');
    expect(stopped.code).toBe(0);
    // The store still says how each one ended, for whoever starts next.
    const dirC = mkdtempSync(path.join(os.tmpdir(), 'paddock-fleet-c-'));
    copyFileSync(path.join(dirA, 'admin.token'), path.join(dirC, 'admin.token'));
    const c = await startServerProcess(dirC, fleetEnv('host-c'));
    try {
      const body = (await c.api('GET', '/v1/hosts')).body as { hosts: { id: string; health: string }[] };
      expect(body.hosts.map((h) => [h.id, h.health])).toEqual([
        ['host-a', 'stopped'],
        ['host-b', 'lost'],
        ['host-c', 'up'],
      ]);
    } finally {
      await stopServerProcess(c, 'SIGTERM');
    }
  });
});
