import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runnerId } from '../src/sandbox/docker/labels.js';
import { closeRunner, docker, dockerMissing, imageExists, pollUntil, removeRunnerContainers } from './helpers/docker.js';
import { startTestRunner, type TestRunner } from './helpers/runner.js';
import { type Api, type Job, jobEvents, removeRunnerState, submitJob, waitForJob } from './helpers/sandbox.js';

// Egress isolation of the docker (runc) driver: sandboxes on the egress bridge
// reach neither each other nor any address of the host, and the runner's
// rules (read with iptables -S, never probed with traffic) refuse link-local
// (metadata), private and reserved ranges. All traffic here stays on this host:
// to listeners the test starts, or between containers on the runner's bridge.

const PYTHON = 'python';
let missing = await dockerMissing();
if (!missing && !(await imageExists('paddock/python:latest'))) missing = 'paddock/python is not built (paddock image build python)';
if (!missing && !existsSync('/usr/sbin/iptables') && !existsSync('/sbin/iptables')) missing = 'iptables is not installed';
const skip = !!missing && process.env.CI !== 'true';

const ended = (j: Job) => ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(j.state);
const iptables = (bin: 'iptables' | 'ip6tables', ...args: string[]) => execFileSync(bin, ['-w', '5', ...args], { encoding: 'utf8' });
const ipv6On = existsSync('/proc/net/if_inet6');
/** Every rule of the host mentioning this runner (its chains and the jumps into them). */
const rulesOf = (id: string, bin: 'iptables' | 'ip6tables' = 'iptables') =>
  iptables(bin, '-S').split('\n').filter((l) => l.includes(id));

function removeRulesOf(id: string): void {
  for (const bin of ['iptables', 'ip6tables'] as const) {
    if (bin === 'ip6tables' && !ipv6On) continue;
    const lines = rulesOf(id, bin);
    for (const l of lines.filter((x) => x.startsWith('-A ') && !x.startsWith(`-A PADDOCK`))) {
      try {
        iptables(bin, '-D', ...l.slice(3).split(' '));
      } catch {
        // gone meanwhile
      }
    }
    for (const flag of ['-F', '-X']) {
      for (const l of lines.filter((x) => x.startsWith('-N '))) {
        try {
          iptables(bin, flag, l.slice(3));
        } catch {
          // gone meanwhile
        }
      }
    }
  }
}

/** Connects to each host:port (3 s each) and prints `<target> open <first line>` or `<target> closed <why>`. */
const PROBE = `
import socket, sys
for t in sys.argv[1:]:
    h, p = t.rsplit(':', 1)
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((h, int(p))); print(t, 'open', s.recv(64).decode().strip(), flush=True)
    except Exception as e:
        print(t, 'closed', type(e).__name__, flush=True)
    finally:
        s.close()
`;

async function probe(api: Api, targets: string[], network: unknown = 'egress'): Promise<Record<string, string>> {
  const job = await submitJob(api, { driver: 'docker', image: PYTHON, network, command: ['python3', '-c', PROBE, ...targets] });
  expect(job.state, JSON.stringify(job)).toBe('succeeded');
  return Object.fromEntries(job.result!.stdout.trim().split('\n').map((l) => {
    const [t, ...rest] = l.split(' ');
    return [t!, rest.join(' ')];
  }));
}

/** Every IPv4 address of this host that is not loopback (interfaces of other bridges included). */
const hostAddresses = () =>
  Object.values(os.networkInterfaces()).flat().filter((a) => a && a.family === 'IPv4' && !a.internal).map((a) => a!.address);

async function startRunner(extra: Record<string, unknown> = {}): Promise<TestRunner> {
  if (missing) throw new Error(`egress tests cannot run: ${missing}`);
  return startTestRunner({ drivers: ['docker'], max_concurrent_jobs: 3, pool: { size: 0 }, ...extra });
}
async function stopRunner(runner: TestRunner | undefined): Promise<void> {
  if (!runner) return;
  try {
    await closeRunner(runner);
  } finally {
    await removeRunnerContainers(runner.dataDir);
    removeRunnerState(runner.dataDir);
  }
}

/** Egress is usable once the runner's firewall is in (installed when the driver starts). */
const egressReady = (id: string) =>
  pollUntil(async () => rulesOf(id).some((l) => l.startsWith('-A DOCKER-USER')), (ok) => ok, 30_000, 'egress firewall installed');

describe.skipIf(skip)('egress isolation (docker driver)', () => {
  let listener: net.Server;
  let port = 0;
  /** A host address (not loopback) that runner `b` is configured to allow. */
  let allowedHost = '';
  let a: TestRunner | undefined;
  let b: TestRunner | undefined;
  let aId = '';
  let bId = '';

  beforeAll(async () => {
    listener = net.createServer((s) => s.end('host-listener\n'));
    await new Promise<void>((r) => listener.listen(0, '0.0.0.0', r));
    port = (listener.address() as net.AddressInfo).port;
    allowedHost = hostAddresses()[0] ?? '';
    expect(allowedHost, 'the host needs a non-loopback IPv4 address').not.toBe('');

    // Stale rules of an earlier process of runner `a`: a junk chain and two jumps into it.
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-test-'));
    aId = runnerId(dataDir);
    iptables('iptables', '-N', `PADDOCK-EGRESS-${aId}`);
    iptables('iptables', '-A', `PADDOCK-EGRESS-${aId}`, '-d', '198.51.100.0/24', '-j', 'ACCEPT');
    for (let i = 0; i < 2; i++) iptables('iptables', '-I', 'DOCKER-USER', '-i', `pdk${aId}`, '-j', `PADDOCK-EGRESS-${aId}`);

    a = await startRunner({ data_dir: dataDir });
    b = await startRunner({ egress: { allow_cidrs: [`${allowedHost}/32`] } });
    bId = runnerId(b.dataDir);
    await Promise.all([egressReady(aId), egressReady(bId)]);
  }, 180_000);

  afterAll(async () => {
    await stopRunner(a);
    await stopRunner(b);
    await new Promise((r) => listener?.close(r));
    // Hygiene if a runner never started (its close removes its rules otherwise).
    for (const id of [aId, bId].filter(Boolean)) removeRulesOf(id);
  }, 120_000);

  it('two concurrent egress jobs cannot connect to each other', async () => {
    const server = `
import socket
ip = socket.gethostbyname(socket.gethostname())
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('0.0.0.0', 8000)); srv.listen(8)
socket.create_connection((ip, 8000), 2).close(); srv.accept()[0].close()
print(ip, 'listening', flush=True)
while True:
    c, addr = srv.accept(); print('accepted', addr[0], flush=True); c.close()
`;
    const listening = await submitJob(a!.api, { driver: 'docker', image: PYTHON, network: 'egress', command: ['python3', '-c', server] }, false);
    const out = () => jobEvents(a!.api, listening.id).then((e) => e.filter((x) => x.type === 'stdout').map((x) => x.data.data).join(''));
    const first = await pollUntil(out, (t) => /listening/.test(t), 60_000, 'listener job up');
    const ip = first.split(' ')[0]!;
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    try {
      const seen = await probe(a!.api, [`${ip}:8000`]);
      expect(seen[`${ip}:8000`]).toMatch(/^closed/);
      expect(await out()).not.toMatch(/accepted/);
    } finally {
      await a!.api('POST', `/v1/jobs/${listening.id}/cancel`);
      await waitForJob(a!.api, listening.id, ended);
    }
  }, 120_000);

  it('a host listener on 0.0.0.0 answers on loopback but not to an egress job, via the gateway or any host address', async () => {
    const local = await new Promise<string>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('data', (d) => resolve(d.toString().trim())).on('error', reject);
    });
    expect(local).toBe('host-listener');
    const net0 = await docker.getNetwork(`paddock-egress-${aId}`).inspect();
    const gateway = net0.IPAM.Config[0].Gateway as string;
    // Read now: the runner's bridge (and so the gateway) is among the host's addresses.
    const targets = [...new Set([gateway, ...hostAddresses(), '127.0.0.1'])].map((h) => `${h}:${port}`);
    expect(targets.length).toBeGreaterThan(2);
    const seen = await probe(a!.api, targets);
    for (const t of targets) expect(seen[t], t).toMatch(/^closed/);
  }, 120_000);

  it('an address the runner allows in egress.allow_cidrs is reached; the rest of the host stays closed', async () => {
    const seen = await probe(b!.api, [`${allowedHost}:${port}`]);
    expect(seen[`${allowedHost}:${port}`]).toBe('open host-listener');
    // The network exists once an egress job ran.
    const gateway = (await docker.getNetwork(`paddock-egress-${bId}`).inspect()).IPAM.Config[0].Gateway as string;
    expect(gateway).not.toBe(allowedHost);
    expect((await probe(b!.api, [`${gateway}:${port}`]))[`${gateway}:${port}`]).toMatch(/^closed/);
  }, 120_000);

  it('a job allow list narrows the runner\'s policy (and never widens it); hostnames are resolved at start', async () => {
    const target = `${allowedHost}:${port}`;
    const narrowed = await probe(b!.api, [target], { mode: 'egress', allow: ['203.0.113.0/24'] });
    expect(narrowed[target]).toMatch(/^closed/);
    const kept = await probe(b!.api, [target], { mode: 'egress', allow: [`${allowedHost}/32`] });
    expect(kept[target]).toBe('open host-listener');
    // Runner `a` does not allow the host: a job naming it gains nothing.
    const widened = await probe(a!.api, [target], { mode: 'egress', allow: [`${allowedHost}/32`] });
    expect(widened[target]).toMatch(/^closed/);

    // While a narrowed job runs, its container's rules are in the runner's jobs chain.
    const job = await submitJob(b!.api, {
      driver: 'docker', image: PYTHON, network: { mode: 'egress', allow: ['203.0.113.0/24', 'localhost'] },
      script: 'hostname -i; sleep 60',
    }, false);
    try {
      const out = await pollUntil(
        () => jobEvents(b!.api, job.id).then((e) => e.filter((x) => x.type === 'stdout').map((x) => x.data.data).join('')),
        (t) => t.includes('\n'), 60_000, 'narrowed job up');
      const ip = out.trim().split(/\s+/)[0]!;
      const jobs = iptables('iptables', '-S', `PADDOCK-JOBS-${bId}`).split('\n').filter((l) => l.includes(`-s ${ip}/32`));
      expect(jobs.map((l) => l.replace(/ -m comment --comment \S+/, ''))).toEqual([
        `-A PADDOCK-JOBS-${bId} -s ${ip}/32 -d 127.0.0.1/32 -j RETURN`,
        `-A PADDOCK-JOBS-${bId} -s ${ip}/32 -d 203.0.113.0/24 -j RETURN`,
        `-A PADDOCK-JOBS-${bId} -s ${ip}/32 -j REJECT --reject-with icmp-port-unreachable`,
      ]);
    } finally {
      await b!.api('POST', `/v1/jobs/${job.id}/cancel`);
      await waitForJob(b!.api, job.id, ended);
    }
    // Removed with the container.
    await pollUntil(async () => iptables('iptables', '-S', `PADDOCK-JOBS-${bId}`).split('\n').filter((l) => l.startsWith('-A')).length,
      (n) => n === 0, 30_000, 'per-job rules removed');
  }, 180_000);

  it('the rule set refuses metadata, private and reserved ranges and the host, and replaces stale rules', async () => {
    const fwd = iptables('iptables', '-S', `PADDOCK-EGRESS-${aId}`);
    for (const cidr of ['169.254.0.0/16', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '127.0.0.0/8', '0.0.0.0/8', '224.0.0.0/4', '240.0.0.0/4']) {
      expect(fwd, cidr).toContain(`-d ${cidr} -j REJECT`);
    }
    expect(fwd).toContain(`-o pdk${aId} -j REJECT`); // sandbox to sandbox
    expect(fwd).not.toContain('198.51.100.0/24'); // the stale rule is gone
    const hooks = rulesOf(aId).filter((l) => l.startsWith('-A DOCKER-USER') || l.startsWith('-A INPUT'));
    expect(hooks.sort()).toEqual([`-A DOCKER-USER -i pdk${aId} -j PADDOCK-EGRESS-${aId}`, `-A INPUT -i pdk${aId} -j PADDOCK-INPUT-${aId}`]);
    expect(iptables('iptables', '-S', `PADDOCK-INPUT-${aId}`).trim().split('\n').at(-1)).toBe(`-A PADDOCK-INPUT-${aId} -j REJECT --reject-with icmp-port-unreachable`);
    // Runner b's own allowance comes before its refusals, on both paths.
    for (const chain of [`PADDOCK-EGRESS-${bId}`, `PADDOCK-INPUT-${bId}`]) {
      const lines = iptables('iptables', '-S', chain).split('\n');
      const allow = lines.indexOf(`-A ${chain} -d ${allowedHost}/32 -j RETURN`);
      expect(allow, chain).toBeGreaterThan(0);
      expect(lines.findIndex((l) => l.includes('-j REJECT') && !l.includes('-o pdk'))).toBeGreaterThan(allow);
    }
    if (ipv6On) {
      const v6 = rulesOf(aId, 'ip6tables');
      expect(v6).toEqual(expect.arrayContaining([
        `-A FORWARD -i pdk${aId} -j PADDOCK-EGRESS6-${aId}`, `-A INPUT -i pdk${aId} -j PADDOCK-EGRESS6-${aId}`,
        `-A PADDOCK-EGRESS6-${aId} -j DROP`,
      ]));
    }
    const network = await docker.getNetwork(`paddock-egress-${aId}`).inspect();
    expect({ icc: network.Options['com.docker.network.bridge.enable_icc'], ipv6: network.EnableIPv6 }).toEqual({ icc: 'false', ipv6: false });
    // And inside: no IPv6 on the egress bridge.
    const job = await submitJob(a!.api, { driver: 'docker', network: 'egress', script: 'cat /proc/sys/net/ipv6/conf/all/disable_ipv6; cat /proc/net/if_inet6 | wc -l' });
    expect(job.result?.stdout).toBe('1\n0\n');
  }, 120_000);

  it('rules flushed from outside (a firewall reload) are put back by the periodic check', async () => {
    const hook = [`-i`, `pdk${bId}`, '-j', `PADDOCK-EGRESS-${bId}`];
    iptables('iptables', '-D', 'DOCKER-USER', ...hook);
    expect(rulesOf(bId).filter((l) => l.startsWith('-A DOCKER-USER'))).toEqual([]);
    // What the driver's minute timer runs.
    const egress = (b!.rt.drivers.get('docker') as unknown as { egress: { verify(): Promise<void> } }).egress;
    await egress.verify();
    expect(rulesOf(bId).filter((l) => l.startsWith('-A DOCKER-USER'))).toEqual([`-A DOCKER-USER ${hook.join(' ')}`]);
    expect(iptables('iptables', '-S', `PADDOCK-EGRESS-${bId}`)).toContain('-d 169.254.0.0/16 -j REJECT');
  });

  it('a bad CIDR or hostname in allow is 400 validation_failed', async () => {
    for (const network of [
      { mode: 'egress', allow: ['300.1.1.1/8'] }, { mode: 'egress', allow: ['10.0.0.0/33'] },
      { mode: 'egress', allow: ['exa mple.com'] }, { mode: 'egress', allow: ['fc00::/7'] },
      { mode: 'egress', allow: ['$(reboot)'] }, { mode: 'none', allow: ['203.0.113.0/24'] }, { mode: 'egress', allow: [] }, 'bridge',
    ]) {
      const res = await a!.api('POST', '/v1/jobs', { kind: 'command', driver: 'docker', network, command: ['true'] });
      expect({ status: res.status, code: res.body.code }, JSON.stringify(network)).toEqual({ status: 400, code: 'validation_failed' });
    }
  });

  it('the runner removes its rules and its network when it stops', async () => {
    expect(rulesOf(aId).length).toBeGreaterThan(0);
    await stopRunner(a);
    a = undefined;
    expect(rulesOf(aId)).toEqual([]);
    if (ipv6On) expect(rulesOf(aId, 'ip6tables')).toEqual([]);
    expect((await docker.listNetworks()).filter((n) => n.Name === `paddock-egress-${aId}`)).toEqual([]);
  }, 120_000);
});

describe.skipIf(skip)('egress fails closed without a working iptables', () => {
  let r: TestRunner | undefined;
  afterAll(() => stopRunner(r), 60_000);

  it('docker stays available for network none; egress is refused with the reason in /health', async () => {
    const bin = mkdtempSync(path.join(os.tmpdir(), 'paddock-noipt-'));
    for (const name of ['iptables', 'ip6tables']) {
      writeFileSync(path.join(bin, name), '#!/bin/sh\necho "iptables: broken on purpose" >&2\nexit 4\n');
      chmodSync(path.join(bin, name), 0o755);
    }
    const saved = process.env.PATH;
    process.env.PATH = `${bin}:${saved}`;
    try {
      r = await startRunner();
    } finally {
      process.env.PATH = saved;
    }
    const health = await r.api('GET', '/health');
    const d = health.body.drivers.find((x: { name: string }) => x.name === 'docker');
    expect(d.available).toBe(true);
    expect(d.capabilities.network).toEqual(['none']);
    expect(d.capabilities.egressUnavailable).toMatch(/broken on purpose/);
    const res = await r.api('POST', '/v1/jobs', { kind: 'command', driver: 'docker', network: 'egress', command: ['true'] });
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 422, code: 'driver_unavailable' });
    expect(rulesOf(runnerId(r.dataDir))).toEqual([]);
    const ok = await submitJob(r.api, { driver: 'docker', command: ['echo', 'ok'] });
    expect(ok.result?.stdout).toBe('ok\n');
  }, 120_000);
});
