import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { expect } from 'vitest';
import { LABELS, runnerId } from '../../src/sandbox/docker/labels.js';
import type { TestRunner } from './runner.js';
import { type Api, jobEvents, sleep, submitJob } from './sandbox.js';

// Shared by the Docker/gVisor driver tests: prerequisites, containers of one
// runner as Docker sees them, and a private dockerd a test may stop and start.

export type DockerDriverName = 'docker' | 'gvisor';
export const RUNTIME: Record<DockerDriverName, 'runc' | 'runsc'> = { docker: 'runc', gvisor: 'runsc' };
export const BASE_IMAGE = 'paddock/base:latest';
export const SANDBOX_UID = '10001';

export const docker = new Dockerode({ socketPath: '/var/run/docker.sock' });

/** Why these tests cannot run here, or undefined. Locally that skips them; under CI=true it fails them. */
export async function dockerMissing(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'the Docker driver tests need root';
  let info: { Runtimes?: Record<string, unknown> };
  try {
    info = await docker.info();
  } catch (err) {
    return `Docker Engine not reachable: ${(err as Error).message}`;
  }
  for (const rt of ['runc', 'runsc']) if (!info.Runtimes?.[rt]) return `Docker has no ${rt} runtime`;
  if (!(await imageExists(BASE_IMAGE))) return `${BASE_IMAGE} is not built (paddock image build base)`;
  return undefined;
}

export const imageExists = (ref: string, d: Dockerode = docker) =>
  d.getImage(ref).inspect().then(() => true, () => false);

export interface RunnerContainer {
  id: string;
  labels: Record<string, string>;
  running: boolean;
  info: Dockerode.ContainerInspectInfo;
}

/** Every container (running or not) labelled as this runner's, optionally only of one runtime. */
export async function runnerContainers(
  dataDir: string,
  opts: { runtime?: 'runc' | 'runsc'; pool?: boolean; d?: Dockerode } = {},
): Promise<RunnerContainer[]> {
  const d = opts.d ?? docker;
  const list = await d.listContainers({ all: true, filters: { label: [`${LABELS.runner}=${runnerId(dataDir)}`] } });
  const found: RunnerContainer[] = [];
  for (const c of list) {
    const info = await d.getContainer(c.Id).inspect().catch(() => undefined);
    if (!info) continue; // removed while we looked
    if (opts.runtime && (info.HostConfig.Runtime ?? 'runc') !== opts.runtime) continue;
    if (opts.pool !== undefined && (LABELS.pool in c.Labels) !== opts.pool) continue;
    found.push({ id: c.Id, labels: c.Labels, running: info.State.Running, info });
  }
  return found;
}

/** Force-removes what a test's runner left in Docker (hygiene, not an assertion). */
export async function removeRunnerContainers(dataDir: string, d: Dockerode = docker): Promise<void> {
  const list = await d
    .listContainers({ all: true, filters: { label: [`${LABELS.runner}=${runnerId(dataDir)}`] } })
    .catch(() => []);
  await Promise.all(list.map((c) => d.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
}

/** Polls `probe` until `done` holds for its value; fails with the last value after `ms`. */
export async function pollUntil<T>(probe: () => Promise<T>, done: (v: T) => boolean, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${ms} ms`);
    await sleep(250);
  }
}

/**
 * The container a running job is in: the job must print `hostname` first (the
 * container's short id, under runc and runsc alike); stdout is stored as it comes.
 */
export async function jobHostname(api: Api, jobId: string, ms = 20_000): Promise<string> {
  const out = await pollUntil(
    async () => (await jobEvents(api, jobId)).filter((e) => e.type === 'stdout').map((e) => e.data.data).join(''),
    (text) => text.includes('\n'),
    ms,
    `hostname of job ${jobId}`,
  );
  return out.split('\n')[0]!;
}

/** Closes a runner, but never hangs a test file: a close stuck for `ms` is reported as an error. */
export async function closeRunner(runner: TestRunner | undefined, ms = 60_000): Promise<void> {
  if (!runner) return;
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<'stuck'>((r) => (timer = setTimeout(() => r('stuck'), ms)));
  const result = await Promise.race([runner.close().then(() => 'closed' as const), stuck]);
  clearTimeout(timer);
  if (result === 'stuck') {
    await removeRunnerContainers(runner.dataDir);
    throw new Error(`runner.close() did not return within ${ms} ms (a job never ended?)`);
  }
}

/** After a hostile job: /health ok and `echo ok` still succeeds on the same driver. */
export async function expectDriverHealthy(api: Api, driver: string): Promise<void> {
  const health = await api('GET', '/health');
  expect(health.status).toBe(200);
  expect(health.body.status).toBe('ok');
  expect(health.body.drivers.find((d: { name: string }) => d.name === driver)?.available).toBe(true);
  const job = await submitJob(api, { driver, command: ['echo', 'ok'] });
  expect({ state: job.state, stdout: job.result?.stdout }, JSON.stringify(job)).toEqual({ state: 'succeeded', stdout: 'ok\n' });
}

/**
 * A dockerd of the test's own (own socket, data root, containerd; no iptables, no
 * bridge) with paddock/base copied in, so that a test can stop the Engine under a
 * runner without taking away the machine's dockerd, which other work uses. It is
 * started the way scripts/install-docker.sh starts dockerd without systemd (nohup,
 * log file), stopped like `pkill -x dockerd` (SIGTERM), but only by its own pid.
 */
export class PrivateDockerd {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'paddock-dockerd-'));
  readonly socket = path.join(this.dir, 'docker.sock');
  readonly client = new Dockerode({ socketPath: this.socket });
  private proc: ChildProcess | undefined;

  async start(): Promise<void> {
    writeFileSync(
      path.join(this.dir, 'daemon.json'),
      JSON.stringify({
        runtimes: { runsc: { path: '/usr/bin/runsc', runtimeArgs: ['--network=none', '--host-uds=open'] } },
        iptables: false,
        bridge: 'none',
        'ip-forward': false,
        'ip-masq': false,
      }),
    );
    const at = (name: string) => path.join(this.dir, name);
    const args = ['--config-file', at('daemon.json'), '-H', `unix://${this.socket}`, '--data-root', at('root'), '--exec-root', at('exec'), '--pidfile', at('docker.pid')];
    const script = `exec nohup dockerd ${args.join(' ')} >>'${at('dockerd.log')}' 2>&1 </dev/null`;
    this.proc = spawn('sh', ['-c', script], { stdio: 'ignore' });
    await pollUntil(() => this.ping(), (ok) => ok, 30_000, 'private dockerd up').catch((err: Error) => {
      throw new Error(`${err.message}\n${readFileSync(at('dockerd.log'), 'utf8').slice(-2000)}`);
    });
  }

  ping(): Promise<boolean> {
    return this.client.ping().then(() => true, () => false);
  }

  /** SIGTERM to our dockerd, then waits until it has exited and its socket no longer answers. */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), sleep(40_000).then(() => false)]);
    if (!done) {
      proc.kill('SIGKILL');
      await exited;
    }
    await pollUntil(() => this.ping(), (ok) => !ok, 10_000, 'private dockerd still answering');
  }

  /** Copies an image from the machine's Engine into this one. */
  copyImage(ref: string): void {
    execFileSync('sh', ['-c', `docker save '${ref}' | docker -H 'unix://${this.socket}' load -q`], { stdio: 'ignore' });
  }

  /** Stops the daemon and removes everything it had (containers die with it: no live-restore). */
  async destroy(): Promise<void> {
    if (this.proc) {
      for (const c of await this.client.listContainers({ all: true }).catch(() => [])) {
        await this.client.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
      }
      await this.stop().catch(() => undefined);
    }
    try {
      execFileSync('sh', ['-c', `grep -o ' ${this.dir}/[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`], { stdio: 'ignore' });
    } catch {
      // nothing mounted
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
