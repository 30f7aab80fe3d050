import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.js';
import { dockerMissing } from './helpers/docker.js';
import { startTestRunner, type TestRunner } from './helpers/runner.js';
import { removeRunnerState } from './helpers/sandbox.js';
import { type ServerProcess, startServerProcess, stopServerProcess } from './helpers/server-process.js';

// Every string that reaches a driver, a path or the Engine API is checked against its
// grammar at the boundary: a property test over hostile values, against a real
// `paddock serve` with every driver, must never end the process, never get a 5xx
// other than a documented 503, and never make the runner connect anywhere.
const missing = await dockerMissing();
const skip = !!missing && process.env.CI !== 'true';
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);

/** mulberry32: small, seeded, so a failure can be replayed with FUZZ_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hostileStrings(rand: () => number, port: number): () => string {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const canary = `127.0.0.1:${port}`;
  const fixed = [
    `../${canary}/x`, `../../${canary}/x`, `../../../${canary}`, `${canary}/x`, `//${canary}/x`, `http://${canary}/`,
    `/${canary}`, `..%2f${canary}`, `%2e%2e/${canary}/x`, `x/../../${canary}/y`, `localhost:${port}/img`,
    `[::1]:${port}/img`, 'base\n', 'base\0', 'base?x=1', 'base#x', '..', '.', '', ' ', '-rf', '--help',
    '../../etc/passwd', '/etc/passwd', 'a\\b', '$(id)', '`id`', 'a;b', 'a|b', '\u202e', 'é', '😀',
    'x'.repeat(5000), 'UPPER/Case', 'base:latest', 'base@sha256:abc', 'paddock/base:latest',
  ];
  const alphabet = ['a', 'Z', '0', '.', '/', ':', '@', '-', '_', '%', '\n', '\0', '\t', '\\', ' ', '~', '\u00ff', '\ud800'];
  return () => {
    if (rand() < 0.5) return pick(fixed);
    const n = Math.floor(rand() * 40);
    return Array.from({ length: n }, () => pick(alphabet)).join('');
  };
}

const FIELDS: Record<string, (v: string) => Record<string, unknown>> = {
  image: (v) => ({ image: v }),
  driver: (v) => ({ driver: v }),
  image_docker: (v) => ({ image: v, driver: 'docker' }),
  image_gvisor: (v) => ({ image: v, driver: 'gvisor' }),
  image_bwrap: (v) => ({ image: v, driver: 'bwrap' }),
  cwd: (v) => ({ cwd: v, driver: 'bwrap' }),
  shell: (v) => ({ shell: v, script: 'true', command: undefined, driver: 'bwrap' }),
  label_key: (v) => ({ labels: { [v]: 'x' } }),
  label_value: (v) => ({ labels: { team: v } }),
  env_name: (v) => ({ env: { [v]: 'x' }, driver: 'bwrap' }),
  env_value: (v) => ({ env: { X: v }, driver: 'bwrap' }),
  file_path: (v) => ({ files: [{ path: v, content: 'x' }], driver: 'bwrap' }),
  argv: (v) => ({ command: ['/bin/echo', v], driver: 'bwrap' }),
  network: (v) => ({ network: v }),
};

describe.skipIf(skip)('input grammar (property test against a real paddock serve)', () => {
  let server: ServerProcess;
  let canary: net.Server;
  let connections = 0;
  let dataDir = '';

  beforeAll(async () => {
    if (missing) throw new Error(`input grammar tests need every driver: ${missing}`);
    canary = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => canary.listen(0, '127.0.0.1', r));
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-grammar-'));
    server = await startServerProcess(dataDir, {
      PADDOCK_DRIVERS: 'gvisor,docker,bwrap',
      PADDOCK_IMAGES_DIR: process.env.PADDOCK_IMAGES_DIR ?? '/var/cache/paddock/images',
      PADDOCK_POOL__SIZE: '0',
    });
  }, 120_000);

  afterAll(async () => {
    if (server) await stopServerProcess(server, 'SIGTERM');
    canary?.close();
    if (dataDir) removeRunnerState(dataDir);
  });

  it(`hostile strings in every field reaching a driver are refused cleanly (seed ${SEED})`, async () => {
    const port = (canary.address() as net.AddressInfo).port;
    const rand = prng(SEED);
    const next = hostileStrings(rand, port);
    const fields = Object.keys(FIELDS);
    const seen: Record<number, number> = {};
    const created: string[] = [];
    for (let i = 0; i < 400; i++) {
      const field = fields[i % fields.length]!;
      const value = next();
      const spec = { kind: 'command', command: ['true'], ...FIELDS[field]!(value) };
      const res = await server.api('POST', '/v1/jobs', spec);
      seen[res.status] = (seen[res.status] ?? 0) + 1;
      const ctx = JSON.stringify({ field, value, status: res.status, body: res.body });
      expect([201, 400, 422, 503], ctx).toContain(res.status);
      if (res.status === 201) created.push(res.body.id);
      else {
        expect(res.headers.get('content-type'), ctx).toMatch(/^application\/problem\+json/);
        expect(typeof res.body.code, ctx).toBe('string');
      }
    }
    // Still alive and serving, and nobody was called on the canary's behalf.
    expect(server.proc.exitCode).toBe(null);
    expect((await server.api('GET', '/health')).status).toBe(200);
    for (const id of created.slice(-5)) expect((await server.api('GET', `/v1/jobs/${id}`)).status).toBe(200);
    expect((await server.api('GET', '/v1/jobs?limit=500')).status).toBe(200);
    expect(connections).toBe(0);
    expect(server.stderr()).not.toMatch(/uncaught|unhandled/i);
    expect(seen[400] ?? 0).toBeGreaterThan(100);
  }, 240_000);

  it(`hostile strings in the sandboxes API (create, paths, exec, ports) are refused cleanly (seed ${SEED})`, async () => {
    const port = (canary.address() as net.AddressInfo).port;
    const rand = prng(SEED + 1);
    const next = hostileStrings(rand, port);
    const create: Record<string, (v: string) => Record<string, unknown>> = {
      image: (v) => ({ image: v, driver: 'bwrap' }),
      driver: (v) => ({ driver: v }),
      label_key: (v) => ({ labels: { [v]: 'x' }, driver: 'bwrap' }),
      label_value: (v) => ({ labels: { team: v }, driver: 'bwrap' }),
      env_name: (v) => ({ env: { [v]: 'x' }, driver: 'bwrap' }),
      env_value: (v) => ({ env: { X: v }, driver: 'bwrap' }),
      cwd: (v) => ({ cwd: v, driver: 'bwrap' }),
      network: (v) => ({ network: v, driver: 'bwrap' }),
    };
    const sbx = await server.api('POST', '/v1/sandboxes', { driver: 'bwrap' });
    expect(sbx.status, JSON.stringify(sbx.body)).toBe(201);
    const id = sbx.body.id as string;
    // Every byte percent-encoded (encodeURIComponent throws on a lone surrogate).
    const q = (v: string) => [...Buffer.from(v, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
    const onLive: Array<(v: string) => Promise<{ status: number; headers: Headers; body: any }>> = [
      (v) => server.api('GET', `/v1/sandboxes/${id}/files/stat?path=${q(v)}`),
      (v) => server.api('GET', `/v1/sandboxes/${id}/files/list?path=${q(v)}&depth=2`),
      (v) => server.api('POST', `/v1/sandboxes/${id}/files/mkdir`, { path: v }),
      (v) => server.api('POST', `/v1/sandboxes/${id}/files/move`, { from: '/work/none', to: v }),
      (v) => server.api('POST', `/v1/sandboxes/${id}/exec`, { command: ['/bin/echo', v], cwd: v }),
      (v) => server.api('POST', `/v1/sandboxes/${id}/exec`, { command: ['true'], env: { [v]: v } }),
      (v) => server.api('GET', `/v1/sandboxes/${q(v)}`),
      (v) => server.api('GET', `/v1/sandboxes/${id}/ports/${q(v)}/x`),
    ];
    const keys = Object.keys(create);
    for (let i = 0; i < 160; i++) {
      const value = next();
      const res =
        i % 2 === 0
          ? await server.api('POST', '/v1/sandboxes', create[keys[(i / 2) % keys.length]!]!(value))
          : await onLive[((i - 1) / 2) % onLive.length]!(value);
      const ctx = JSON.stringify({ i, value, status: res.status, body: res.body });
      expect([200, 201, 204, 400, 404, 409, 414, 422, 502, 503], ctx).toContain(res.status);
      if (res.status === 201 && res.body?.id?.startsWith('sbx_') && res.body.id !== id) {
        expect((await server.api('DELETE', `/v1/sandboxes/${res.body.id}`)).status).toBe(204);
      }
      if (res.status >= 400) expect(res.headers.get('content-type'), ctx).toMatch(/^application\/problem\+json/);
    }
    // The sandbox still answers, the runner is alive, nobody was called on the canary's behalf.
    const alive = await server.api('POST', `/v1/sandboxes/${id}/exec`, { command: ['echo', 'ok'] });
    expect({ status: alive.status, out: alive.body.stdout }).toEqual({ status: 200, out: 'ok\n' });
    expect(server.proc.exitCode).toBe(null);
    expect(connections).toBe(0);
    expect(server.stderr()).not.toMatch(/uncaught|unhandled/i);
    expect((await server.api('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
  }, 240_000);

  it('the image names that once reached the Engine as a path are 400 validation_failed', async () => {
    const port = (canary.address() as net.AddressInfo).port;
    for (const image of [`../127.0.0.1:${port}/x`, `../../127.0.0.1:${port}/x/../y`]) {
      for (const driver of ['docker', 'gvisor', 'auto']) {
        const res = await server.api('POST', '/v1/jobs', { kind: 'command', command: ['true'], image, driver });
        expect({ status: res.status, code: res.body.code }).toEqual({ status: 400, code: 'validation_failed' });
      }
    }
    expect(connections).toBe(0);
  });
});

describe('/metrics exposure', () => {
  const runners: TestRunner[] = [];
  afterAll(async () => {
    for (const r of runners) {
      await r.close();
      removeRunnerState(r.dataDir);
    }
  });

  it('is public on a loopback-only runner', async () => {
    const r = await startTestRunner();
    runners.push(r);
    const res = await fetch(`${r.url}/metrics`);
    expect(res.status).toBe(200);
  });

  it('needs a metrics:read token when the runner listens beyond loopback', async () => {
    const r = await startTestRunner({ host: '0.0.0.0' });
    runners.push(r);
    expect((await fetch(`${r.url}/metrics`)).status).toBe(401);
    const jobsOnly = await createToken(r.rt.store, 'jobs', ['jobs:read']);
    expect((await fetch(`${r.url}/metrics`, { headers: { authorization: `Bearer ${jobsOnly.token}` } })).status).toBe(403);
    const scraper = await createToken(r.rt.store, 'prometheus', ['metrics:read']);
    const res = await fetch(`${r.url}/metrics`, { headers: { authorization: `Bearer ${scraper.token}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/paddock_jobs_submitted_total/);
    // /health stays public for load balancers.
    expect((await fetch(`${r.url}/health`)).status).toBe(200);
  });
});
