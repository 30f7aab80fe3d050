import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { AuthenticationError, CommandExitError, NotFoundError, Sandbox, SandboxError, SandboxNotFoundError } from 'e2b';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.js';
import { openStore } from '../src/store/store.js';
import { IMAGES_DIR } from './helpers/agent-env.js';
import { dockerMissing } from './helpers/docker.js';
import { type ServerProcess, startServerProcess, stopServerProcess } from './helpers/server-process.js';

// The real `e2b` SDK against a real `paddock serve` (src/server/compat/e2b/), as its docs use it, on every
// driver: one server per driver, E2B_API_URL and E2B_SANDBOX_URL both at <runner>/e2b.
const CI = process.env.CI === 'true';
const noDocker = await dockerMissing();
const dockerEnv = (driver: 'docker' | 'gvisor', uid: number) => ({
  PADDOCK_DRIVERS: driver,
  PADDOCK_DOCKER__UID_RANGE_START: String(uid),
  PADDOCK_DOCKER__UID_RANGE_SIZE: '40',
});
const CASES = [
  { driver: 'bwrap', missing: undefined, env: { PADDOCK_DRIVERS: 'bwrap', PADDOCK_SANDBOX__UID_RANGE_START: '400000', PADDOCK_SANDBOX__UID_RANGE_SIZE: '64' } },
  { driver: 'docker', missing: noDocker, env: dockerEnv('docker', 410_000) },
  { driver: 'gvisor', missing: noDocker, env: dockerEnv('gvisor', 410_040) },
];

const caught = async (p: Promise<unknown>): Promise<any> => {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const c of CASES) {
  describe(`E2B SDK on Paddock (${c.driver})`, () => {
    let dataDir: string;
    let server: ServerProcess;
    let opts: { apiKey: string; apiUrl: string; sandboxUrl: string };
    let sbx: Sandbox;

    beforeAll(async () => {
      if (c.missing) throw new Error(c.missing);
      dataDir = mkdtempSync(path.join(os.tmpdir(), `paddock-e2b-${c.driver}-`));
      server = await startServerProcess(dataDir, { ...c.env, PADDOCK_IMAGES_DIR: IMAGES_DIR, PADDOCK_SANDBOXES__SWEEP_MS: '200' });
      const base = `${server.url}/e2b`;
      opts = { apiKey: readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim(), apiUrl: base, sandboxUrl: base };
      sbx = await Sandbox.create({ ...opts, envs: { GREETING: 'hello from env' }, metadata: { suite: 'e2b' } });
    }, 120_000);
    if (c.missing && !CI) return void it.skip(`needs: ${c.missing}`);
    afterAll(async () => {
      if (server) await stopServerProcess(server, 'SIGTERM');
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    }, 60_000);

    it('runs commands: stdout and exit 0, env, cwd; a failing one is CommandExitError with its code and stderr', async () => {
      expect(await sbx.commands.run('echo hi')).toMatchObject({ exitCode: 0, stdout: 'hi\n', stderr: '' });
      expect((await sbx.commands.run('echo "$GREETING/$EXTRA"; pwd', { envs: { EXTRA: 'x' } })).stdout).toBe('hello from env/x\n/work\n');
      expect((await sbx.commands.run('pwd', { cwd: '/tmp' })).stdout).toBe('/tmp\n');
      const failed = await caught(sbx.commands.run('echo out; echo oops >&2; exit 3'));
      expect(failed).toBeInstanceOf(CommandExitError);
      expect([failed.exitCode, failed.stdout, failed.stderr]).toEqual([3, 'out\n', 'oops\n']);
      const info = await sbx.getInfo();
      expect(info).toMatchObject({ sandboxId: sbx.sandboxId, templateId: 'base', metadata: { suite: 'e2b' }, state: 'running' });
    });

    it('streams output to onStdout/onStderr as it is produced', async () => {
      const seen: [number, string][] = [];
      const errs: string[] = [];
      const r = await sbx.commands.run('for i in 1 2 3; do echo $i; sleep 0.4; done; echo e >&2', {
        onStdout: (d) => void seen.push([Date.now(), d]),
        onStderr: (d) => void errs.push(d),
      });
      const ended = Date.now();
      expect(seen.map(([, d]) => d).join('')).toBe('1\n2\n3\n');
      expect(ended - seen[0]![0]).toBeGreaterThan(700);
      expect([r.stdout, errs.join('')]).toEqual(['1\n2\n3\n', 'e\n']);
    });

    it('background commands: list, connect, stdin, kill', async () => {
      const bg = await sbx.commands.run('read line; echo "got $line"; sleep 60', { background: true, stdin: true });
      expect((await sbx.commands.list()).map((p) => p.pid)).toContain(bg.pid);
      const again = await sbx.commands.connect(bg.pid);
      await sbx.commands.sendStdin(bg.pid, 'ping\n');
      for (let i = 0; i < 50 && !again.stdout.includes('got ping'); i++) await sleep(100);
      expect(again.stdout).toBe('got ping\n');
      expect(await sbx.commands.kill(bg.pid)).toBe(true);
      const end = await caught(again.wait());
      expect(end).toBeInstanceOf(CommandExitError);
      expect(await sbx.commands.kill(bg.pid)).toBe(false);
    }, 30_000);

    it('files: write, read, list, exists, makeDir, rename, remove; a missing file is NotFoundError', async () => {
      await sbx.files.write('/work/dir/a.txt', 'hello file');
      expect(await sbx.files.read('/work/dir/a.txt')).toBe('hello file');
      expect(Buffer.from(await sbx.files.read('dir/a.txt', { format: 'bytes' })).toString()).toBe('hello file');
      await sbx.files.write([{ path: '/work/m1.txt', data: 'one' }, { path: '/work/m2.txt', data: new Blob(['two']) }]);
      expect(await sbx.files.read('/work/m2.txt')).toBe('two');
      expect(await sbx.files.makeDir('/work/new/deep')).toBe(true);
      expect(await sbx.files.makeDir('/work/new/deep')).toBe(false);
      const listed = await sbx.files.list('/work');
      expect(listed.map((e) => [e.name, e.type]).sort()).toEqual([['dir', 'dir'], ['m1.txt', 'file'], ['m2.txt', 'file'], ['new', 'dir']]);
      await sbx.files.rename('/work/m1.txt', '/work/renamed.txt');
      expect(await sbx.files.exists('/work/renamed.txt')).toBe(true);
      expect(await sbx.files.exists('/work/m1.txt')).toBe(false);
      await sbx.files.remove('/work/new');
      expect(await sbx.files.exists('/work/new')).toBe(false);
      expect(await caught(sbx.files.read('/work/nope.txt'))).toBeInstanceOf(NotFoundError);
      expect((await sbx.commands.run('cat /work/renamed.txt')).stdout).toBe('one');
    });

    it('pause and connect (resume) keep the files; fork and a snapshot template copy them, not the memory', async () => {
      await sbx.files.write('/work/state.txt', 'v1');
      expect(await sbx.pause()).toBe(true);
      expect((await sbx.getInfo()).state).toBe('paused');
      const back = await Sandbox.connect(sbx.sandboxId, opts);
      expect((await back.commands.run('cat /work/state.txt')).stdout).toBe('v1');
      const snap = await sbx.createSnapshot();
      const fromSnap = await Sandbox.create(snap.snapshotId, opts);
      await sbx.files.write('/work/state.txt', 'v2');
      expect(await fromSnap.files.read('/work/state.txt')).toBe('v1');
      const forks = await Sandbox.fork(sbx.sandboxId, { ...opts, count: 1 });
      expect(forks).toHaveLength(1);
      const fork = forks[0];
      if (!(fork instanceof Sandbox)) throw fork ?? new Error('no fork');
      expect(fork.sandboxId).not.toBe(sbx.sandboxId);
      expect(await fork.files.read('/work/state.txt')).toBe('v2');
      await fromSnap.kill();
      await fork.kill();
    }, 60_000);

    it('timeout ends an idle sandbox; setTimeout moves it; kill twice is false; unknown ids are not found', async () => {
      const short = await Sandbox.create({ ...opts, timeoutMs: 1500 });
      const kept = await Sandbox.create({ ...opts, timeoutMs: 1500 });
      await kept.setTimeout(10_000);
      await sleep(3000);
      expect(await caught(Sandbox.getInfo(short.sandboxId, opts))).toBeInstanceOf(SandboxNotFoundError);
      expect((await Sandbox.getInfo(kept.sandboxId, opts)).state).toBe('running');
      expect(await kept.kill()).toBe(true);
      expect(await kept.kill()).toBe(false);
      expect(await caught(Sandbox.connect('sbx_0000000000000000000000000z', opts))).toBeInstanceOf(SandboxNotFoundError);
    }, 30_000);

    it('refusals: a bad API key, an unknown template, another token, a wrong access token', async () => {
      expect(await caught(Sandbox.create({ ...opts, apiKey: 'pdk_nope' }))).toBeInstanceOf(AuthenticationError);
      const unknown = await caught(Sandbox.create('no-such-template', opts));
      expect(unknown).toBeInstanceOf(SandboxError);
      expect(String(unknown.message)).toMatch(/404.*no-such-template/);
      const store = await openStore(`sqlite:${path.join(dataDir, 'paddock.db')}`);
      const other = (await createToken(store, 'other', ['sandboxes:read', 'sandboxes:write'])).token;
      await store.close();
      expect(await caught(Sandbox.getInfo(sbx.sandboxId, { ...opts, apiKey: other }))).toBeInstanceOf(SandboxNotFoundError);
      expect(await Sandbox.kill(sbx.sandboxId, { ...opts, apiKey: other })).toBe(false);
      const res = await fetch(`${opts.sandboxUrl}/files?path=/work/state.txt`, { headers: { 'E2b-Sandbox-Id': sbx.sandboxId, 'X-Access-Token': 'e2b_envd_wrong' } });
      expect([res.status, (await res.json()).code]).toEqual([401, 401]);
      // The sandbox is unharmed.
      expect((await sbx.commands.run('echo ok')).stdout).toBe('ok\n');
    });
  });
}

describe('E2B host-name routing (e2b.domain) on a real server', () => {
  it('serves api.<domain> and 49983-<id>.<domain> as the path form does', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-e2b-host-'));
    const server = await startServerProcess(dataDir, { ...CASES[0]!.env, PADDOCK_E2B__DOMAIN: 'e2b.test', PADDOCK_SANDBOX__UID_RANGE_START: '400100', PADDOCK_IMAGES_DIR: IMAGES_DIR });
    try {
      const apiKey = readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
      const { port } = new URL(server.url);
      const call = (host: string, method: string, p: string, headers: Record<string, string>, body?: string) =>
        new Promise<{ status: number; body: any }>((resolve, reject) => {
          const r = http.request({ host: '127.0.0.1', port, method, path: p, headers: { host, ...headers } }, (res) => {
            let text = '';
            res.on('data', (d) => (text += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
          });
          r.once('error', reject);
          r.end(body);
        });
      const created = await call('api.e2b.test', 'POST', '/v2/sandboxes', { 'x-api-key': apiKey, 'content-type': 'application/json' }, '{"templateID":"base"}');
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.domain).toBe('e2b.test');
      const { sandboxID, envdAccessToken } = created.body;
      const listed = await call(`49983-${sandboxID}.e2b.test`, 'POST', '/process.Process/List', { 'x-access-token': envdAccessToken, 'content-type': 'application/json' }, '{}');
      expect(listed).toEqual({ status: 200, body: { processes: [] } });
      const crossed = await call(`49983-${sandboxID}.e2b.test`, 'POST', '/process.Process/List', { 'x-access-token': envdAccessToken, 'e2b-sandbox-id': 'sbx_0000000000000000000000000z', 'content-type': 'application/json' }, '{}');
      expect(crossed.status).toBe(400);
      expect((await call('api.e2b.test', 'DELETE', `/sandboxes/${sandboxID}`, { 'x-api-key': apiKey })).status).toBe(204);
    } finally {
      await stopServerProcess(server, 'SIGTERM');
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
