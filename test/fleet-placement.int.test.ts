import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGES_DIR } from './helpers/agent-env.js';
import { dockerMissing } from './helpers/docker.js';
import { freePort } from './helpers/ports.mjs';
import { openWebSocket } from './helpers/ws-raw.js';
import { type PgServer, postgresAvailable, startPostgres } from './helpers/postgres.js';
import { type ServerProcess, startServerProcess, stopServerProcess } from './helpers/server-process.js';

// Three real `paddock serve` processes on one real PostgreSQL, each offering something else:
//   host-a  bwrap, images (python), region=eu, reachable at its advertised loopback address
//   host-b  docker,                 region=us, reachable
//   host-c  bwrap, no images, no labels, no advertised address (a host behind NAT)
// Jobs go where their needs are met, whichever host took the request; sandboxes are used through
// any host, the requests forwarded to the one that holds them.
const CI = process.env.CI === 'true';
const noDocker = await dockerMissing();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Job {
  id: string;
  state: string;
  host?: string;
  driver?: string;
  result?: { stdout?: string; exit_code?: number };
}
interface Sandbox {
  id: string;
  state: string;
  host: string;
  reason: string | null;
}

describe.skipIf(!CI && (noDocker !== undefined || !postgresAvailable()))('a fleet of runners on PostgreSQL: placement and sandboxes', () => {
  let pg: PgServer;
  let url: string;
  let a: ServerProcess;
  let b: ServerProcess;
  let c: ServerProcess;
  const dir = (n: string) => mkdtempSync(path.join(os.tmpdir(), `paddock-place-${n}-`));
  const dirs = { a: dir('a'), b: dir('b'), c: dir('c') };
  const common = () => ({
    PADDOCK_STORE_URL: url,
    PADDOCK_FLEET__HEARTBEAT_MS: '200',
    PADDOCK_FLEET__HOST_TIMEOUT_MS: '1500',
    PADDOCK_FLEET__POLL_MS: '500',
  });

  beforeAll(async () => {
    if (noDocker) throw new Error(noDocker);
    pg = await startPostgres();
    url = await pg.createDatabase();
    const [portA, portB] = [await freePort(), await freePort()];
    a = await startServerProcess(
      dirs.a,
      {
        ...common(),
        PADDOCK_HOST_ID: 'host-a',
        PADDOCK_DRIVERS: 'bwrap',
        PADDOCK_IMAGES_DIR: IMAGES_DIR,
        PADDOCK_FLEET__LABELS__REGION: 'eu',
        PADDOCK_FLEET__ADVERTISE_URL: `http://127.0.0.1:${portA}`,
        PADDOCK_SANDBOX__UID_RANGE_START: '421000',
        PADDOCK_SANDBOX__UID_RANGE_SIZE: '64',
      },
      ['--port', String(portA)],
    );
    for (const d of [dirs.b, dirs.c]) copyFileSync(path.join(dirs.a, 'admin.token'), path.join(d, 'admin.token'));
    b = await startServerProcess(
      dirs.b,
      {
        ...common(),
        PADDOCK_HOST_ID: 'host-b',
        PADDOCK_DRIVERS: 'docker',
        PADDOCK_FLEET__LABELS__REGION: 'us',
        PADDOCK_FLEET__ADVERTISE_URL: `http://127.0.0.1:${portB}`,
        PADDOCK_DOCKER__UID_RANGE_START: '431000',
        PADDOCK_DOCKER__UID_RANGE_SIZE: '40',
      },
      ['--port', String(portB)],
    );
    c = await startServerProcess(dirs.c, {
      ...common(),
      PADDOCK_HOST_ID: 'host-c',
      PADDOCK_DRIVERS: 'bwrap',
      PADDOCK_SANDBOX__UID_RANGE_START: '421100',
      PADDOCK_SANDBOX__UID_RANGE_SIZE: '64',
    });
    // Everyone's heartbeat has published what it offers.
    await sleep(500);
  }, 90_000);
  afterAll(async () => {
    for (const s of [a, b, c]) if (s) await stopServerProcess(s, 'SIGTERM').catch(() => undefined);
    await pg?.close();
  });

  const run = async (via: ServerProcess, spec: Record<string, unknown>) => {
    const res = await via.api('POST', '/v1/jobs?wait=true&wait_ms=60000', { kind: 'command', ...spec });
    return { status: res.status, job: res.body as Job & { code?: string; detail?: string } };
  };

  it('a job that names a driver only another host has is accepted and runs there', async () => {
    const { status, job } = await run(a, { script: 'echo on-docker', driver: 'docker' });
    expect(status, JSON.stringify(job)).toBe(201);
    expect({ state: job.state, host: job.host, driver: job.driver, out: job.result?.stdout }).toEqual({
      state: 'succeeded',
      host: 'host-b',
      driver: 'docker',
      out: 'on-docker\n',
    });
  });

  it("a job's isolation floor: it goes to a host whose auto driver meets it, and runs on that driver", async () => {
    const { job } = await run(c, { script: 'true', isolation: 'container' });
    expect({ state: job.state, host: job.host, driver: job.driver }).toEqual({ state: 'succeeded', host: 'host-b', driver: 'docker' });
    // A floor no host meets: refused, saying which.
    const none = await run(a, { script: 'true', isolation: 'microvm' });
    expect(none.status).toBe(422);
    expect(none.job.code).toBe('driver_unavailable');
  });

  it('host labels: the job runs on the host that has them; labels no host has are refused', async () => {
    const { job } = await run(b, { script: 'echo eu', host_labels: { region: 'eu' } });
    expect({ state: job.state, host: job.host, driver: job.driver }).toEqual({ state: 'succeeded', host: 'host-a', driver: 'bwrap' });
    const none = await run(b, { script: 'true', host_labels: { gpu: 'a100' } });
    expect(none.status).toBe(422);
    expect(none.job.code).toBe('no_host_fits');
    expect(none.job.detail).toMatch(/gpu=a100/);
  });

  it('a driver and an image together: only the host with both runs it, never one with the driver alone', async () => {
    for (let i = 0; i < 4; i++) {
      const { job } = await run(c, { command: ['python3', '-c', 'print(6*7)'], driver: 'bwrap', image: 'python' });
      expect({ state: job.state, host: job.host, out: job.result?.stdout }).toEqual({ state: 'succeeded', host: 'host-a', out: '42\n' });
    }
    const none = await run(c, { script: 'true', driver: 'bwrap', image: 'nosuch' });
    expect(none.status).toBe(422);
    expect(none.job.code).toBe('image_not_found');
  });

  it('GET /v1/hosts shows what each host offers', async () => {
    const body = (await c.api('GET', '/v1/hosts')).body as { hosts: { id: string; caps: string[]; reachable: boolean }[] };
    const caps = Object.fromEntries(body.hosts.map((h) => [h.id, h.caps]));
    expect(caps['host-a']).toEqual(expect.arrayContaining(['driver:bwrap', 'run:none:namespaces', 'image:python', 'label:region=eu']));
    expect(caps['host-b']).toEqual(expect.arrayContaining(['driver:docker', 'run:none:container', 'label:region=us']));
    expect(caps['host-c']).not.toContain('image:python');
    expect(body.hosts.map((h) => [h.id, h.reachable])).toEqual([
      ['host-a', true],
      ['host-b', true],
      ['host-c', false],
    ]);
  });

  it('a sandbox created through one host is used through the others: exec, event stream, files, delete', async () => {
    const created = await a.api('POST', '/v1/sandboxes', {});
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const sbx = created.body as Sandbox;
    expect(sbx.host).toBe('host-a');

    const exec = await b.api('POST', `/v1/sandboxes/${sbx.id}/exec`, { command: ['sh', '-c', 'echo $((6*7)) > n; cat n'] });
    expect(exec.status, JSON.stringify(exec.body)).toBe(200);
    expect((exec.body as { stdout: string }).stdout).toBe('42\n');

    const streamed = await c.api('POST', `/v1/sandboxes/${sbx.id}/exec`, { command: ['sh', '-c', 'echo one; echo two >&2'] }, { accept: 'text/event-stream' });
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get('content-type')).toMatch(/text\/event-stream/);
    expect(String(streamed.body)).toMatch(/event: stdout\n[^\n]*one/);
    expect(String(streamed.body)).toMatch(/event: exit/);

    const put = await fetch(`${c.url}/v1/sandboxes/${sbx.id}/files?path=/work/up.txt`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/octet-stream' },
      body: 'through c',
    });
    expect(put.status).toBeLessThan(300);
    const got = await fetch(`${b.url}/v1/sandboxes/${sbx.id}/files?path=/work/up.txt`, { headers: { authorization: `Bearer ${token()}` } });
    expect(await got.text()).toBe('through c');

    // Forwarded as it came: the owner does the auth, so a bad token is refused wherever it lands.
    const anon = await fetch(`${b.url}/v1/sandboxes/${sbx.id}`);
    expect(anon.status).toBe(401);
    expect(((await b.api('GET', `/v1/sandboxes/${sbx.id}`)).body as Sandbox).state).toBe('running');

    expect((await c.api('DELETE', `/v1/sandboxes/${sbx.id}`)).status).toBe(204);
    expect((await a.api('GET', `/v1/sandboxes/${sbx.id}`)).status).toBe(404);
  });

  it("Daytona through another host: a sandbox named by its name, a session's logs followed over a WebSocket", async () => {
    const created = await a.api('POST', '/daytona/api/sandbox', { name: 'fleet-named' });
    expect(created.status, JSON.stringify(created.body)).toBeLessThan(300);
    const id = (created.body as { id: string }).id;
    for (let i = 0; i < 100 && ((await a.api('GET', `/daytona/api/sandbox/${id}`)).body as { state: string }).state !== 'started'; i++) await sleep(100);

    // Sessions live in the owner's memory: through b they work only if b forwards them to a.
    const tb = `/daytona/toolbox/${id}/process/session`;
    expect((await b.api('POST', tb, { sessionId: 's1' })).status).toBe(201);
    const run = await b.api('POST', `${tb}/s1/exec`, { command: 'sleep 0.5; echo followed', runAsync: true });
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    const ws = await openWebSocket(b.url, `${tb}/s1/command/${(run.body as { cmdId: string }).cmdId}/logs?follow=true`, {
      authorization: `Bearer ${token()}`,
    });
    expect(ws.status).toBe(101);
    let text = '';
    for (;;) {
      const f = await ws.next(15_000).catch(() => undefined);
      if (!f || f.opcode === 8) break;
      text += f.payload.toString('utf8');
    }
    ws.socket.destroy();
    expect(text).toContain('followed');

    // By name through b: stopped by its owner, then gone.
    expect((await b.api('POST', '/daytona/api/sandbox/fleet-named/stop')).status).toBeLessThan(300);
    expect(((await a.api('GET', `/daytona/api/sandbox/${id}`)).body as { state: string }).state).toBe('stopped');
    expect((await c.api('DELETE', '/daytona/api/sandbox/fleet-named')).status).toBeLessThan(300);
    expect((await a.api('GET', `/daytona/api/sandbox/${id}`)).status).toBe(404);
  });

  it('a sandbox asked of a host others cannot reach is placed on one they can', async () => {
    const created = await c.api('POST', '/v1/sandboxes', {});
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const sbx = created.body as Sandbox;
    expect(['host-a', 'host-b']).toContain(sbx.host);
    const exec = await c.api('POST', `/v1/sandboxes/${sbx.id}/exec`, { command: ['echo', 'placed'] });
    expect((exec.body as { stdout: string }).stdout).toBe('placed\n');
    expect((await a.api('DELETE', `/v1/sandboxes/${sbx.id}`)).status).toBe(204);
  });

  it('kill -9 of the owner: its sandbox answers 503 unreachable, then, once the host is lost, destroyed host_lost', async () => {
    const sbx = (await a.api('POST', '/v1/sandboxes', {})).body as Sandbox;
    expect(sbx.host).toBe('host-a');
    await stopServerProcess(a, 'SIGKILL');
    const first = await b.api('GET', `/v1/sandboxes/${sbx.id}`);
    expect([503, 200]).toContain(first.status);
    if (first.status === 503) expect((first.body as { code: string }).code).toBe('unreachable');
    const t0 = Date.now();
    let seen: Sandbox | undefined;
    while (Date.now() - t0 < 10_000) {
      const res = await b.api('GET', `/v1/sandboxes/${sbx.id}`);
      if (res.status === 200 && (res.body as Sandbox).state === 'destroyed') {
        seen = res.body as Sandbox;
        break;
      }
      await sleep(200);
    }
    expect(seen).toMatchObject({ state: 'destroyed', reason: 'host_lost', host: 'host-a' });
    const exec = await c.api('POST', `/v1/sandboxes/${sbx.id}/exec`, { command: ['true'] });
    expect(exec.status).toBe(409);
  });

  const token = () => readFileSync(path.join(dirs.a, 'admin.token'), 'utf8').trim();
});
