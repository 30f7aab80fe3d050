import { copyFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PgServer, postgresAvailable, startPostgres } from './helpers/postgres.js';
import { type HostNetwork, hostNetwork, netnsMissing } from './helpers/netns.js';
import { jobEvents } from './helpers/sandbox.js';
import { type ServerProcess, startServerProcess, stopServerProcess } from './helpers/server-process.js';

interface Job {
  id: string;
  state: string;
  host?: string;
  attempts: number;
  reason?: string;
  result?: { stdout?: string };
}

const TERMINAL = ['succeeded', 'failed', 'timed_out', 'cancelled', 'expired'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Three real `paddock serve` processes on one real PostgreSQL, each with its own data dir and, as root,
// its own network namespace and address (test/helpers/netns.ts: the hosts reach PostgreSQL over the
// test's bridge, the test reaches them at their addresses); loopback ports otherwise.
describe.runIf(postgresAvailable())('a fleet of runners on PostgreSQL: jobs', () => {
  let pg: PgServer;
  let url: string;
  let net: HostNetwork | undefined;
  const hosts: ServerProcess[] = [];
  const dirs: string[] = [];
  const env = (id: string) => ({
    PADDOCK_STORE_URL: url,
    PADDOCK_HOST_ID: id,
    PADDOCK_MAX_CONCURRENT_JOBS: '2',
    PADDOCK_FLEET__HEARTBEAT_MS: '250',
    PADDOCK_FLEET__HOST_TIMEOUT_MS: '1500',
    PADDOCK_FLEET__LEASE_MS: '2000',
    PADDOCK_FLEET__POLL_MS: '1000',
    PADDOCK_SHUTDOWN_GRACE_MS: '1500',
  });
  const start = async (i: number) => {
    dirs[i] ??= mkdtempSync(path.join(os.tmpdir(), `paddock-fleet-${i}-`));
    if (i > 0) copyFileSync(path.join(dirs[0]!, 'admin.token'), path.join(dirs[i]!, 'admin.token'));
    const own = net?.hosts[i];
    hosts[i] = await startServerProcess(dirs[i]!, env(`host-${i}`), own ? ['--host', own.address] : [], {}, own ? { netns: own.ns } : {});
  };

  beforeAll(async () => {
    // As root (CI) the namespaces are made, or the test fails; without root it runs on loopback.
    if (process.env.CI === 'true' && netnsMissing()) throw new Error(netnsMissing());
    net = hostNetwork(3);
    pg = await startPostgres(net ? { listen: net.gateway, allow: net.cidr } : {});
    url = await pg.createDatabase();
    // The hosts reach it at the bridge's address; this process keeps using loopback.
    if (net) url = url.replace('@127.0.0.1:', `@${net.gateway}:`);
    for (let i = 0; i < 3; i++) await start(i);
  }, 60_000);
  afterAll(async () => {
    for (const h of hosts) {
      if (!h) continue;
      h.proc.kill('SIGCONT');
      await stopServerProcess(h, 'SIGKILL');
    }
    await pg?.close();
    net?.close();
  });

  const getJob = async (via: ServerProcess, id: string) => (await via.api('GET', `/v1/jobs/${id}`)).body as Job;
  const waitEnded = async (via: ServerProcess, id: string, ms: number) => {
    const t0 = Date.now();
    for (;;) {
      const job = await getJob(via, id);
      if (TERMINAL.includes(job.state) || Date.now() - t0 > ms) return job;
      await sleep(100);
    }
  };
  const stateEvents = async (via: ServerProcess, id: string) =>
    (await jobEvents(via.api, id)).filter((e) => e.type === 'state').map((e) => (e.data as { state: string }).state);

  /**
   * Submits `sleep seconds` jobs to `host` until both its slots run one. One another host took instead
   * is cancelled at once, so the other hosts stay idle.
   */
  const fillSlots = async (host: ServerProcess, seconds: number) => {
    const long: { body: unknown }[] = [];
    const self = `host-${hosts.indexOf(host)}`;
    for (let i = 0; i < 10; i++) {
      const health = (await host.api('GET', '/health')).body as { currentJobs: number };
      if (health.currentJobs >= 2) return long;
      const res = await host.api('POST', '/v1/jobs', { kind: 'command', command: ['sleep', String(seconds)] });
      await sleep(150);
      const job = await getJob(host, (res.body as Job).id);
      if (job.host === self) long.push(res);
      else await host.api('POST', `/v1/jobs/${job.id}/cancel`);
    }
    throw new Error(`could not fill ${self}'s slots`);
  };

  it('2,000 short jobs submitted across the hosts: each runs exactly once, none lost, every host used', async () => {
    const N = 2000;
    // Each host on its own address in its own namespace (where they could be made).
    if (net) expect(hosts.map((h) => new URL(h.url).hostname)).toEqual(net.hosts.map((h) => h.address));
    if (process.env.CI === 'true') expect(net).toBeDefined();
    const ids: string[] = [];
    let next = 0;
    // 24 submitters, round-robin over the hosts.
    await Promise.all(
      Array.from({ length: 24 }, async () => {
        while (next < N) {
          const i = next++;
          const res = await hosts[i % 3]!.api('POST', '/v1/jobs', { kind: 'command', command: ['true'], priority: 0 });
          expect(res.status, JSON.stringify(res.body)).toBe(201);
          ids.push((res.body as Job).id);
        }
      }),
    );
    expect(new Set(ids).size).toBe(N);
    // Done when no job is queued or running any more, as every host sees it.
    const t0 = Date.now();
    for (;;) {
      const res = await hosts[0]!.api('GET', '/v1/jobs?state=queued&limit=1');
      const running = await hosts[1]!.api('GET', '/v1/jobs?state=running&limit=1');
      if ((res.body as { jobs: Job[] }).jobs.length === 0 && (running.body as { jobs: Job[] }).jobs.length === 0) break;
      expect(Date.now() - t0, 'jobs still queued or running after 240 s').toBeLessThan(240_000);
      await sleep(500);
    }
    const byHost = new Map<string, number>();
    const ended: Job[] = [];
    // Read every job back through the host that did not take it.
    for (let i = 0; i < N; i += 1) ended.push(await getJob(hosts[(i + 1) % 3]!, ids[i]!));
    for (const job of ended) byHost.set(job.host ?? '?', (byHost.get(job.host ?? '?') ?? 0) + 1);
    expect(ended.filter((j) => j.state !== 'succeeded').map((j) => `${j.id} ${j.state} ${j.reason}`)).toEqual([]);
    // Exactly once: one claim each, no requeue.
    expect(ended.filter((j) => j.attempts !== 1).length).toBe(0);
    for (const id of ids.slice(0, 50)) expect(await stateEvents(hosts[2]!, id)).toEqual(['queued', 'running', 'succeeded']);
    expect([...byHost.keys()].sort()).toEqual(['host-0', 'host-1', 'host-2']);
    for (const n of byHost.values()) expect(n).toBeGreaterThan(N / 20);
  }, 300_000);

  it('a job queued on a busy host is started by an idle one within moments (NOTIFY), not at the next poll', async () => {
    // host-0's two slots taken by long jobs; a job submitted to it then must go elsewhere.
    const long = await fillSlots(hosts[0]!, 3);
    const t0 = Date.now();
    const res = await hosts[0]!.api('POST', '/v1/jobs', { kind: 'command', command: ['true'] });
    const job = await waitEnded(hosts[0]!, (res.body as Job).id, 10_000);
    expect(job.state).toBe('succeeded');
    expect(job.host).not.toBe('host-0');
    // Well under the 1000 ms poll, with a sandbox start in it.
    expect(Date.now() - t0).toBeLessThan(900);
    for (const r of long) await waitEnded(hosts[0]!, (r.body as Job).id, 10_000);
  }, 30_000);

  it('?wait=true and an event stream on one host follow a job another host runs, to its end', async () => {
    const long = await fillSlots(hosts[0]!, 4);
    const t0 = Date.now();
    const waited = await hosts[0]!.api('POST', '/v1/jobs?wait=true', { kind: 'command', script: 'echo a; sleep 0.3; echo b' });
    expect(waited.status).toBe(201);
    const job = waited.body as Job;
    expect({ state: job.state, out: job.result?.stdout }).toEqual({ state: 'succeeded', out: 'a\nb\n' });
    expect(job.host).not.toBe('host-0');
    // Told by NOTIFY, not found at a timeout.
    expect(Date.now() - t0).toBeLessThan(3000);

    const queued = await hosts[0]!.api('POST', '/v1/jobs', { kind: 'command', script: 'echo one; sleep 0.3; echo two' });
    const id = (queued.body as Job).id;
    const stream = await hosts[0]!.api('GET', `/v1/jobs/${id}/events`);
    expect(stream.status).toBe(200);
    const text = String(stream.body);
    expect(text).toContain('"data":"one\\n"');
    expect(text).toContain('"data":"two\\n"');
    expect(text).toMatch(/"state":"succeeded"/);
    expect((await getJob(hosts[1]!, id)).host).not.toBe('host-0');
    for (const r of long) await waitEnded(hosts[0]!, (r.body as Job).id, 10_000);
  }, 30_000);

  it('a cancel sent to another host ends the job at once, and its host stops running it at its next renewal', async () => {
    const res = await hosts[0]!.api('POST', '/v1/jobs', { kind: 'command', command: ['sleep', '30'] });
    const id = (res.body as Job).id;
    await sleep(400);
    const running = await getJob(hosts[1]!, id);
    expect(running.state).toBe('running');
    const holder = hosts[Number(running.host!.slice('host-'.length))]!;
    const other = hosts.find((h) => h !== holder)!;
    const cancelled = await other.api('POST', `/v1/jobs/${id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect((cancelled.body as Job).state).toBe('cancelled');
    const t0 = Date.now();
    for (;;) {
      const health = (await holder.api('GET', '/health')).body as { currentJobs: number };
      if (health.currentJobs === 0) break;
      // A renewal every third of the 2 s lease.
      expect(Date.now() - t0).toBeLessThan(3000);
      await sleep(100);
    }
    expect(await stateEvents(holder, id)).toEqual(['queued', 'running', 'cancelled']);
  }, 30_000);

  it('kill -9 of a host running jobs: they are requeued and finish on the others within lease timeout + a few seconds', async () => {
    // Long jobs submitted to host-2: it starts what its slots take (others may go to idle hosts); then it dies.
    const submitted = await Promise.all(
      [0, 1, 2, 3].map(() => hosts[2]!.api('POST', '/v1/jobs', { kind: 'command', script: 'echo run; sleep 2' })),
    );
    await sleep(500);
    const onIt: string[] = [];
    for (const r of submitted) {
      const job = await getJob(hosts[0]!, (r.body as Job).id);
      if (job.state === 'running' && job.host === 'host-2') onIt.push(job.id);
    }
    expect(onIt.length).toBeGreaterThan(0);
    const ids = onIt;
    await stopServerProcess(hosts[2]!, 'SIGKILL');
    const t0 = Date.now();
    for (const id of ids) {
      const job = await waitEnded(hosts[0]!, id, 15_000);
      expect({ state: job.state, attempts: job.attempts }).toEqual({ state: 'succeeded', attempts: 2 });
      expect(['host-0', 'host-1']).toContain(job.host);
      expect(await stateEvents(hosts[1]!, id)).toEqual(['queued', 'running', 'queued', 'running', 'succeeded']);
    }
    // lease 2 s + a renewal round + the 2 s job itself, with room.
    expect(Date.now() - t0).toBeLessThan(2000 + 700 + 2000 + 4000);
  }, 60_000);

  it('a stalled host (SIGSTOP) past its lease: the job is taken over, and its late writes are refused', async () => {
    await start(2); // the host killed above, back under the same id
    const res = await hosts[2]!.api('POST', '/v1/jobs', { kind: 'command', script: 'echo first; sleep 1.5; echo second' });
    const id = (res.body as Job).id;
    await sleep(600);
    expect(await getJob(hosts[0]!, id)).toMatchObject({ state: 'running', host: 'host-2', attempts: 1 });
    hosts[2]!.proc.kill('SIGSTOP');
    // Its command goes on (it is not the stopped process) and prints "second" into a pipe nobody reads yet.
    const job = await waitEnded(hosts[0]!, id, 20_000);
    expect({ state: job.state, attempts: job.attempts }).toEqual({ state: 'succeeded', attempts: 2 });
    expect(job.host).not.toBe('host-2');
    hosts[2]!.proc.kill('SIGCONT');
    await sleep(2500);
    // The stalled run woke up, read its command's end and tried to record it: refused (its lease is gone).
    const after = await getJob(hosts[1]!, id);
    expect({ state: after.state, attempts: after.attempts, host: after.host }).toEqual({ state: 'succeeded', attempts: 2, host: job.host });
    expect(await stateEvents(hosts[1]!, id)).toEqual(['queued', 'running', 'queued', 'running', 'succeeded']);
    // Output: the first run's line written under its lease, then the second run's whole output; nothing of the first run after.
    expect(after.result?.stdout).toBe('first\nfirst\nsecond\n');
    expect(hosts[2]!.proc.exitCode).toBeNull();
  }, 60_000);

  it.skipIf(netnsMissing() !== undefined)(
    'a host cut off the network past its lease: the job is run elsewhere; healed, the host writes nothing of it and is healthy again',
    async () => {
      const res = await hosts[2]!.api('POST', '/v1/jobs', { kind: 'command', script: 'echo before; sleep 1.5; echo after' });
      const id = (res.body as Job).id;
      await sleep(600);
      expect(await getJob(hosts[0]!, id)).toMatchObject({ state: 'running', host: 'host-2', attempts: 1 });
      net!.partition(2, true);
      const job = await waitEnded(hosts[0]!, id, 20_000);
      expect({ state: job.state, attempts: job.attempts }).toEqual({ state: 'succeeded', attempts: 2 });
      expect(job.host).not.toBe('host-2');
      net!.partition(2, false);
      // Back: its health recovers and its run is over — its end, held while it was cut off, refused.
      let health: unknown;
      for (let i = 0; i < 150; i++) {
        health = (await hosts[2]!.api('GET', '/health').catch(() => ({ body: undefined }))).body;
        if ((health as { status?: string; currentJobs?: number } | undefined)?.currentJobs === 0) {
          if ((health as { status: string }).status === 'ok') break;
        }
        await sleep(200);
      }
      expect(health).toMatchObject({ status: 'ok', currentJobs: 0 });
      const after = await getJob(hosts[1]!, id);
      expect({ state: after.state, attempts: after.attempts, host: after.host }).toEqual({ state: 'succeeded', attempts: 2, host: job.host });
      expect(await stateEvents(hosts[1]!, id)).toEqual(['queued', 'running', 'queued', 'running', 'succeeded']);
      expect(after.result?.stdout).toBe('before\nbefore\nafter\n');
    },
    60_000,
  );

  it('SIGTERM of a host: it stops claiming, lets a job finish within the grace period, hands back the rest, exits 0', async () => {
    // Started on host-1 (a submit to an idle host starts it there); one another host took is cancelled.
    const onHost1 = async (seconds: number) => {
      for (let i = 0; i < 10; i++) {
        const id = ((await hosts[1]!.api('POST', '/v1/jobs', { kind: 'command', command: ['sleep', String(seconds)] })).body as Job).id;
        await sleep(150);
        const job = await getJob(hosts[1]!, id);
        if (job.host === 'host-1' && job.state === 'running') return id;
        await hosts[1]!.api('POST', `/v1/jobs/${id}/cancel`);
      }
      throw new Error('could not start a job on host-1');
    };
    const short = await onHost1(1);
    const long = await onHost1(60);
    const t0 = Date.now();
    const stopped = await stopServerProcess(hosts[1]!, 'SIGTERM');
    expect(stopped.code).toBe(0);
    // The grace period (1.5 s) was waited out for the long one, not more than a few seconds past it.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    expect(Date.now() - t0).toBeLessThan(8000);
    // Finished in its grace, where it ran.
    expect(await waitEnded(hosts[0]!, short, 5000)).toMatchObject({ state: 'succeeded', host: 'host-1' });
    // Past it: handed back (a command is retry-safe), and another host runs it now.
    const t1 = Date.now();
    let taken = await getJob(hosts[0]!, long);
    while (!(taken.state === 'running' && taken.host !== 'host-1') && Date.now() - t1 < 10_000) {
      await sleep(100);
      taken = await getJob(hosts[0]!, long);
    }
    expect({ state: taken.state, attempts: taken.attempts }).toEqual({ state: 'running', attempts: 2 });
    expect(taken.host).not.toBe('host-1');
    const events = (await jobEvents(hosts[0]!.api, long)).filter((e) => e.type === 'state').map((e) => e.data as { state: string; reason?: string });
    expect(events.slice(0, 3)).toEqual([{ state: 'queued' }, expect.objectContaining({ state: 'running' }), { state: 'queued', reason: 'runner_shutdown' }]);
    await hosts[0]!.api('POST', `/v1/jobs/${long}/cancel`);
    const list = (await hosts[0]!.api('GET', '/v1/hosts')).body as { hosts: { id: string; health: string }[] };
    expect(list.hosts.find((h) => h.id === 'host-1')?.health).toBe('stopped');
  }, 60_000);
});
