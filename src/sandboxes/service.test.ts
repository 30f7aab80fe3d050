import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HostAgentDriver, type HostAgentSandbox } from '../../test/helpers/host-agent-driver.js';
import type { Principal } from '../auth/tokens.js';
import { loadConfig } from '../config/load.js';
import { DriverSet } from '../sandbox/registry.js';
import { STORE_ENGINES } from '../../test/helpers/postgres.js';
import { openStore, type Store } from '../store/store.js';
import { createLogger } from '../util/log.js';
import { startExec, type ExecRequestBody } from './exec-start.js';
import { SandboxService } from './service.js';
import { SandboxCreate } from './spec.js';

// The sandbox service against the real paddock-agent (a host-agent test driver), with an in-memory store.

const alice: Principal = { tokenId: 'alice', name: 'alice', scopes: ['sandboxes:write'], quotas: {} as Principal['quotas'] };
const bob: Principal = { ...alice, tokenId: 'bob', name: 'bob' };
const exec = (over: Partial<ExecRequestBody>): ExecRequestBody => ({ env: {}, stdin_stream: false, detach: false, ...over });

let driver: HostAgentDriver;
let store: Store;
let drivers: DriverSet;

function service(sandboxes: Record<string, number> = {}, quotas: Record<string, number> = {}) {
  const config = loadConfig({ env: {}, flags: { data_dir: '/tmp/unused', log_level: 'silent', sandboxes, quotas } });
  const svc = new SandboxService({ config, store, drivers, log: createLogger('silent') });
  return { svc, config };
}

const services: SandboxService[] = [];
async function started(sandboxes: Record<string, number> = {}, quotas: Record<string, number> = {}) {
  const s = service(sandboxes, quotas);
  await s.svc.start();
  services.push(s.svc);
  return s;
}

const create = (svc: SandboxService, body: unknown = {}, tokenId = 'alice') => svc.create(SandboxCreate.parse(body), { tokenId });
const lastCreated = () => driver.created.at(-1) as HostAgentSandbox;
const exitedPromise = (s: HostAgentSandbox) =>
  new Promise<void>((r) => (s.child.exitCode !== null || s.child.signalCode !== null ? r() : s.child.once('exit', () => r())));

beforeAll(async () => {
  driver = new HostAgentDriver({ pause: true });
  drivers = new DriverSet([driver]);
  await drivers.detect();
});
afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await driver.close();
});

describe.each(STORE_ENGINES)('SandboxService ($engine)', ({ fresh }) => {
  beforeAll(async () => {
    store = await openStore(await fresh());
  });
  afterAll(() => store.close());

  it('creates a running sandbox whose execs share files, env and the default cwd /work', async () => {
    const { svc, config } = await started();
    const row = await create(svc, { env: { GREETING: 'hi' }, labels: { team: 'a' } });
    expect(row).toMatchObject({ state: 'running', driver: 'hostagent', token_id: 'alice', labels: { team: 'a' } });
    expect(Date.parse(row.expires_at) - Date.parse(row.last_used_at)).toBe(300_000);
    const first = await startExec(svc, config, row.id, alice, exec({ script: 'echo "$GREETING" > note; pwd' }), false);
    expect(await first.result).toMatchObject({ exit_code: 0, stdout: '/work\n', timed_out: false });
    const second = await startExec(svc, config, row.id, alice, exec({ command: ['cat', 'note'], env: { X: '1' } }), false);
    expect((await second.result).stdout).toBe('hi\n');
    // The agent wrote into this sandbox's own /work, nowhere else.
    expect((await import('node:fs')).readFileSync(`${lastCreated().workDir}/note`, 'utf8')).toBe('hi\n');
  });

  it('someone else’s sandbox is not_found; a deleted one too', async () => {
    const { svc } = await started();
    const row = await create(svc);
    await expect(svc.get(row.id, bob)).rejects.toMatchObject({ code: 'not_found' });
    await expect(svc.running(row.id, bob)).rejects.toMatchObject({ code: 'not_found' });
    const sandbox = lastCreated();
    await svc.delete(row.id, alice);
    await exitedPromise(sandbox);
    await expect(svc.get(row.id, alice)).rejects.toMatchObject({ code: 'not_found' });
    expect(await store.getSandbox(row.id)).toBeUndefined();
  });

  it('caps running execs at sandboxes.max_execs (too_many_execs), and frees the place when one ends', async () => {
    const { svc, config } = await started({ max_execs: 2 });
    const row = await create(svc);
    const runs = [0, 1].map(() => startExec(svc, config, row.id, alice, exec({ command: ['sleep', '30'] }), false));
    const [a, b] = await Promise.all(runs);
    await expect(startExec(svc, config, row.id, alice, exec({ command: ['true'] }), false)).rejects.toMatchObject({
      code: 'too_many_execs',
      status: 429,
    });
    a!.signal('KILL');
    expect(await a!.result).toMatchObject({ signal: 'SIGKILL', exit_code: 137 });
    const c = await startExec(svc, config, row.id, alice, exec({ command: ['true'] }), false);
    expect((await c.result).exit_code).toBe(0);
    b!.cancel();
    await b!.result;
  });

  it('keeps the last 64 ended execs, output only in the newest 8 detached ones; a failed exec keeps its error', async () => {
    const { svc, config } = await started();
    const row = await create(svc);
    const runs = [];
    for (let i = 0; i < 70; i++) {
      const run = await startExec(svc, config, row.id, alice, exec({ command: ['echo', String(i)], detach: i >= 60 }), false);
      await run.result;
      runs.push(run);
    }
    await expect(svc.findExec(row.id, alice, runs[5]!.id)).rejects.toMatchObject({ code: 'not_found' });
    const kept = await svc.findExec(row.id, alice, runs[6]!.id);
    expect(kept.lastResult).toMatchObject({ exit_code: 0, stdout: '' }); // answered its reader: no output kept
    expect((await svc.findExec(row.id, alice, runs[61]!.id)).lastResult!.stdout).toBe(''); // detached, but older than the newest 8
    expect((await svc.findExec(row.id, alice, runs[62]!.id)).lastResult!.stdout).toBe('62\n');
    expect((await svc.findExec(row.id, alice, runs[69]!.id)).lastResult!.stdout).toBe('69\n');
    const failed = await startExec(svc, config, row.id, alice, exec({ command: ['no-such-command'], detach: true }), false);
    await expect(failed.result).rejects.toMatchObject({ code: 'not_found' });
    expect(failed).toMatchObject({ ended: true, lastResult: undefined, error: { code: 'not_found' } });
    expect(() => failed.signal('TERM')).toThrow(/exited/);
  });

  it('an exec past its timeout_ms is killed and says timed_out; output past the cap is truncated and killed', async () => {
    const { svc, config } = await started();
    const row = await create(svc, { limits: { output_bytes: 1000 } });
    const slow = await startExec(svc, config, row.id, alice, exec({ command: ['sleep', '30'], timeout_ms: 200 }), false);
    expect(await slow.result).toMatchObject({ timed_out: true, signal: 'SIGKILL' });
    const loud = await startExec(svc, config, row.id, alice, exec({ command: ['yes'] }), false);
    const r = await loud.result;
    expect(r).toMatchObject({ stdout_truncated: true, timed_out: false });
    expect(r.stdout.length).toBe(1000);
  });

  it('limits.cpu_ms bounds each exec’s CPU time (RLIMIT_CPU), and the next exec gets its own', async () => {
    const { svc, config } = await started();
    const row = await create(svc, { limits: { cpu_ms: 1000 } });
    const busy = await startExec(svc, config, row.id, alice, exec({ script: 'while :; do :; done', timeout_ms: 20_000 }), false);
    const r = await busy.result;
    expect(r).toMatchObject({ signal: expect.stringMatching(/^SIG(XCPU|KILL)$/), timed_out: false });
    expect(r.wall_ms).toBeLessThan(10_000);
    const next = await startExec(svc, config, row.id, alice, exec({ script: 'i=0; while [ $i -lt 1000 ]; do i=$((i+1)); done' }), false);
    expect((await next.result).exit_code).toBe(0);
  });

  it('idle sandboxes end at their TTL (not while an exec runs); every use starts the TTL again', async () => {
    const { svc, config } = await started();
    const row = await create(svc, { timeout_ms: 5000 });
    const t0 = Date.parse(row.expires_at);
    await new Promise((r) => setTimeout(r, 20));
    const run = await startExec(svc, config, row.id, alice, exec({ command: ['sleep', '30'] }), false);
    const touched = await svc.get(row.id, alice);
    expect(Date.parse(touched.expires_at)).toBeGreaterThan(t0);
    svc.sweep(Date.parse(touched.expires_at) + 1);
    expect((await svc.get(row.id, alice)).state).toBe('running');
    run.cancel();
    await run.result.catch(() => undefined);
    // A detached exec keeps nothing alive.
    const background = await startExec(svc, config, row.id, alice, exec({ command: ['sleep', '30'], detach: true }), false);
    const idle = await svc.get(row.id, alice);
    svc.sweep(Date.parse(idle.expires_at) + 1);
    await waitFor(async () => (await svc.get(row.id, alice)).state === 'destroyed');
    expect(await store.getSandbox(row.id)).toMatchObject({ state: 'destroyed', reason: 'idle_timeout', ended_at: expect.any(String) });
    const followed = svc.events.follow(row.id, 0, () => {});
    followed.stop();
    const types = followed.past.map((e) => e.type);
    expect(types).toEqual(['created', 'exec_started', 'exec_ended', 'exec_started', 'expired', 'exec_ended', 'destroyed']);
    await expect(background.result).rejects.toMatchObject({ code: 'conflict', details: { reason: 'idle_timeout' } });
    await expect(startExec(svc, config, row.id, alice, exec({ command: ['true'] }), false)).rejects.toMatchObject({
      code: 'conflict',
      details: { state: 'destroyed', reason: 'idle_timeout' },
    });
  });

  it('ends a sandbox at its max lifetime even while it is in use', async () => {
    const { svc, config } = await started();
    const row = await create(svc, { max_lifetime_ms: 2000 });
    const run = await startExec(svc, config, row.id, alice, exec({ command: ['sleep', '30'] }), false);
    svc.sweep(Date.parse(row.max_lifetime_at));
    // The exec's answer is the sandbox's end, not an agent failure.
    await expect(run.result).rejects.toMatchObject({ code: 'conflict', details: { state: 'destroyed' } });
    await waitFor(async () => (await store.getSandbox(row.id))?.state === 'destroyed');
    expect((await store.getSandbox(row.id))!.reason).toBe('max_lifetime');
  });

  it('refuses a timeout or lifetime above sandboxes.max_lifetime_ms', async () => {
    const { svc } = await started({ max_lifetime_ms: 60_000 });
    await expect(create(svc, { max_lifetime_ms: 60_001 })).rejects.toMatchObject({ code: 'limit_exceeded' });
    await expect(create(svc, { timeout_ms: 60_001 })).rejects.toMatchObject({ code: 'limit_exceeded' });
  });

  it('a sandbox whose agent dies is recorded destroyed, reason died', async () => {
    const { svc } = await started();
    const row = await create(svc);
    const sandbox = lastCreated();
    sandbox.child.kill('SIGKILL');
    await waitFor(async () => (await store.getSandbox(row.id))?.state === 'destroyed');
    expect(await store.getSandbox(row.id)).toMatchObject({ reason: 'died', detail: expect.stringMatching(/agent/) });
  });

  it('pause makes execs a 409; resume lets them run again', async () => {
    const { svc, config } = await started();
    const row = await create(svc);
    expect((await svc.pause(row.id, alice)).state).toBe('paused');
    await expect(startExec(svc, config, row.id, alice, exec({ command: ['true'] }), false)).rejects.toMatchObject({
      code: 'conflict',
      details: { state: 'paused' },
    });
    expect((await store.getSandbox(row.id))!.state).toBe('paused');
    expect((await svc.resume(row.id, alice)).state).toBe('running');
    expect((await (await startExec(svc, config, row.id, alice, exec({ command: ['true'] }), false)).result).exit_code).toBe(0);
  });

  it('caps sandboxes per token (quotas.max_sandboxes) and per runner (sandboxes.max_live)', async () => {
    const { svc } = await started({ max_live: 3 }, { max_sandboxes: 2 });
    await create(svc, {}, 'alice');
    await create(svc, {}, 'alice');
    await expect(create(svc, {}, 'alice')).rejects.toMatchObject({ code: 'quota_exceeded', details: { quota: 'max_sandboxes' } });
    await create(svc, {}, 'bob');
    await expect(create(svc, {}, 'carol')).rejects.toMatchObject({ code: 'quota_exceeded', details: { quota: 'max_live' } });
  });

  it('a token record’s max_sandboxes wins over the config’s (null falls back to it)', async () => {
    const { svc } = await started({}, { max_sandboxes: 1 });
    const body = SandboxCreate.parse({});
    await svc.create(body, { tokenId: 'dave', quotas: { max_sandboxes: 2 } });
    await svc.create(body, { tokenId: 'dave', quotas: { max_sandboxes: 2 } });
    await expect(svc.create(body, { tokenId: 'dave', quotas: { max_sandboxes: 2 } })).rejects.toMatchObject({
      details: { quota: 'max_sandboxes', limit: 2 },
    });
    await svc.create(body, { tokenId: 'erin', quotas: { max_sandboxes: null } });
    await expect(svc.create(body, { tokenId: 'erin', quotas: { max_sandboxes: null } })).rejects.toMatchObject({
      details: { quota: 'max_sandboxes', limit: 1 },
    });
  });

  it('forgets sandboxes that ended longer than retention.max_age ago, not live or recent ones', async () => {
    const config = loadConfig({ env: {}, flags: { data_dir: '/tmp/unused', log_level: 'silent', retention: { max_age: 60_000 } } });
    const svc = new SandboxService({ config, store, drivers, log: createLogger('silent') });
    const live = await svc.create(SandboxCreate.parse({}), { tokenId: 'alice' });
    services.push(svc);
    const base = { ...live, state: 'destroyed' as const, reason: 'idle_timeout' as const };
    const old = await store.insertSandbox({ ...base, id: live.id.slice(0, -1) + (live.id.endsWith('0') ? '1' : '0'), ended_at: new Date(Date.now() - 120_000).toISOString() });
    const recent = await store.insertSandbox({ ...base, id: live.id.slice(0, -1) + (live.id.endsWith('2') ? '3' : '2'), ended_at: new Date().toISOString() });
    await svc.prune();
    expect(await store.getSandbox(old.id)).toBeUndefined();
    expect((await store.getSandbox(recent.id))!.state).toBe('destroyed');
    expect((await store.getSandbox(live.id))!.state).toBe('running');
  });

  it('stop ends every sandbox (runner_stopped); a start records leftovers of this host as runner_restarted', async () => {
    const { svc } = await started();
    const row = await create(svc);
    const sandbox = lastCreated();
    await svc.stop();
    await exitedPromise(sandbox);
    expect(await store.getSandbox(row.id)).toMatchObject({ state: 'destroyed', reason: 'runner_stopped' });
    await expect(create(svc)).rejects.toMatchObject({ code: 'shutting_down' });

    // What a crashed process left: rows still running on this host.
    const { config } = service();
    const stale = { ...row, id: row.id.slice(0, -1) + (row.id.endsWith('0') ? '1' : '0'), state: 'running' as const, reason: null, ended_at: null };
    await store.insertSandbox(stale);
    await store.insertSandbox({ ...stale, id: stale.id.slice(0, -2) + 'zz', host_id: 'another-host' });
    await started();
    expect(await store.getSandbox(stale.id)).toMatchObject({ state: 'destroyed', reason: 'runner_restarted' });
    expect((await store.getSandbox(stale.id.slice(0, -2) + 'zz'))!.state).toBe('running');
    expect(config.host_id).toBe(row.host_id);
  });
});

async function waitFor(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
