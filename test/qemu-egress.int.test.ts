import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runnerId } from '../src/sandbox/runner-id.js';
import { IMAGES_DIR, qemuMissing, qemuProcesses } from './helpers/qemu.js';
import { startTestRunner, type TestRunner } from './helpers/runner.js';
import { closeRunner, pollUntil } from './helpers/docker.js';
import { removeRunnerState } from './helpers/sandbox.js';
import { startServerProcess, stopServerProcess } from './helpers/server-process.js';

// `network: egress` on the qemu driver: each VM in a network namespace of its own behind the
// runner's VM bridge, under the same rule set as containers (public internet only, allow lists).
// All traffic stays on this host: to listeners the test starts on the host or in a VM's namespace.
let missing = qemuMissing();
if (!missing && !existsSync('/dev/net/tun')) missing = '/dev/net/tun is missing';
const skip = !!missing && process.env.CI !== 'true';

const iptables = (...args: string[]) => execFileSync('iptables', ['-w', '5', ...args], { encoding: 'utf8' });
const rulesOf = (id: string) => [...iptables('-S').split('\n'), ...iptables('-t', 'nat', '-S').split('\n')].filter((l) => l.includes(id));
const netnsOf = (id: string) => (existsSync('/run/netns') ? readdirSync('/run/netns') : []).filter((n) => n.startsWith(`pdq-${id}-`));
const bridgeOf = (id: string) => {
  try {
    return execFileSync('ip', ['-o', '-4', 'addr', 'show', 'dev', `pdq${id}`], { encoding: 'utf8' });
  } catch {
    return '';
  }
};
const hostAddresses = () =>
  Object.values(os.networkInterfaces()).flat().filter((a) => a && a.family === 'IPv4' && !a.internal).map((a) => a!.address);

/** Connects to each host:port (3 s each) from inside the VM and prints `<target> open <first line>` or `<target> closed`. */
const PROBE = `for t in "$@"; do h=\${t%:*}; p=\${t##*:}
if out=$(timeout 3 bash -c "exec 3<>/dev/tcp/$h/$p; head -1 <&3" 2>/dev/null); then echo "$t open $out"; else echo "$t closed"; fi; done`;

describe.skipIf(skip)('qemu driver: network egress', () => {
  let r: TestRunner | undefined;
  let id = '';
  let listener: net.Server;
  let port = 0;
  let allowedHost = '';
  const extra: ChildProcess[] = [];

  const exec = async (sbx: string, argv: string[]) => {
    const res = await r!.api('POST', `/v1/sandboxes/${sbx}/exec`, { command: argv });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as { exit_code: number; stdout: string; stderr: string };
  };
  const probe = async (sbx: string, targets: string[]) => {
    const out = await exec(sbx, ['bash', '-c', PROBE, 'probe', ...targets]);
    return Object.fromEntries(out.stdout.trim().split('\n').map((l) => {
      const [t, ...rest] = l.split(' ');
      return [t!, rest.join(' ')];
    }));
  };
  const create = async (network: unknown = 'egress') => {
    const res = await r!.api('POST', '/v1/sandboxes', { driver: 'qemu', network, limits: { memory_mb: 128 } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  };
  /** The namespaces a new sandbox brought (names carry the VM's id, which is the sandbox's). */
  const nsOfSandbox = (sbx: string) => netnsOf(id).find((n) => n.endsWith(sbx));
  const nsAddress = (ns: string) => /inet (\S+)\//.exec(execFileSync('ip', ['-n', ns, '-o', '-4', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' }))![1]!;

  beforeAll(async () => {
    if (missing) throw new Error(`qemu egress tests cannot run: ${missing}`);
    listener = net.createServer((s) => s.end('host-listener\n'));
    await new Promise<void>((res) => listener.listen(0, '0.0.0.0', res));
    port = (listener.address() as net.AddressInfo).port;
    allowedHost = hostAddresses()[0] ?? '';
    expect(allowedHost, 'the host needs a non-loopback IPv4 address').not.toBe('');
    r = await startTestRunner({ drivers: ['qemu'], images_dir: IMAGES_DIR, egress: { allow_cidrs: [`${allowedHost}/32`] } });
    id = runnerId(r.dataDir);
    await pollUntil(async () => (await r!.api('GET', '/health')).body.drivers.find((d: { name: string }) => d.name === 'qemu')?.capabilities.network,
      (n: string[] | undefined) => Boolean(n?.includes('egress')), 30_000, 'qemu egress offered');
  }, 120_000);

  afterAll(async () => {
    for (const p of extra) p.kill('SIGKILL');
    if (r) {
      await closeRunner(r);
      removeRunnerState(r.dataDir);
    }
    await new Promise((res) => listener?.close(res));
  }, 120_000);

  it('an egress VM reaches what the runner allows; the gateway, the host and a neighbour VM\'s namespace stay closed', async () => {
    const a = await create();
    const b = await create();
    const nsA = nsOfSandbox(a)!;
    expect(nsA, netnsOf(id).join(' ')).toBeDefined();
    const ipA = nsAddress(nsA);
    // A listener in A's namespace, which the host reaches (so "closed" from B means refused, not absent).
    const inA = spawn('ip', ['netns', 'exec', nsA, process.execPath, '-e', "require('net').createServer((s) => s.end('in-ns-a\\n')).listen(8123, '0.0.0.0')"], { stdio: 'ignore' });
    extra.push(inA);
    await pollUntil(() => new Promise<boolean>((res) => {
      const s = net.connect(8123, ipA, () => res(true)).on('error', () => res(false));
      s.setTimeout(1000, () => res(false));
    }), (ok) => ok, 10_000, 'listener in A\'s namespace');

    const gateway = /inet (\S+)\//.exec(bridgeOf(id))![1]!;
    const closed = [...new Set([gateway, ...hostAddresses().filter((h) => h !== allowedHost), '127.0.0.1'])].map((h) => `${h}:${port}`);
    const seen = await probe(b, [`${allowedHost}:${port}`, `${ipA}:8123`, ...closed]);
    expect(seen[`${allowedHost}:${port}`]).toBe('open host-listener');
    expect(seen[`${ipA}:8123`]).toBe('closed');
    for (const t of closed) expect(seen[t], t).toBe('closed');
    // Inside: the NIC on its /30, the runner's resolvers, no IPv6 address.
    const inside = await exec(b, ['sh', '-c', 'ls /sys/class/net; grep -c nameserver /etc/resolv.conf; grep -c eth0 /proc/net/if_inet6 || true']);
    expect(inside.stdout.split('\n').slice(0, 2)).toEqual(['eth0', 'lo']);
    expect(inside.stdout.trim().split('\n').at(-1)).toBe('0');
    for (const s of [a, b]) expect((await r!.api('DELETE', `/v1/sandboxes/${s}`)).status).toBe(204);
    expect(netnsOf(id)).toEqual([]);
  }, 240_000);

  it('a sandbox allow list narrows the runner\'s policy, as rules on its namespace\'s address that go with it', async () => {
    const target = `${allowedHost}:${port}`;
    const narrowed = await create({ mode: 'egress', allow: ['203.0.113.0/24'] });
    expect((await probe(narrowed, [target]))[target]).toBe('closed');
    const ip = nsAddress(nsOfSandbox(narrowed)!);
    const jobs = iptables('-S', `PDKVM-JOBS-${id}`).split('\n').filter((l) => l.includes(`-s ${ip}/32`));
    expect(jobs.map((l) => l.replace(/ -m comment --comment \S+/, ''))).toEqual([
      `-A PDKVM-JOBS-${id} -s ${ip}/32 -d 203.0.113.0/24 -j RETURN`,
      `-A PDKVM-JOBS-${id} -s ${ip}/32 -j REJECT --reject-with icmp-port-unreachable`,
    ]);
    const kept = await create({ mode: 'egress', allow: [`${allowedHost}/32`] });
    expect((await probe(kept, [target]))[target]).toBe('open host-listener');
    for (const s of [narrowed, kept]) expect((await r!.api('DELETE', `/v1/sandboxes/${s}`)).status).toBe(204);
    expect(iptables('-S', `PDKVM-JOBS-${id}`).split('\n').filter((l) => l.startsWith('-A'))).toEqual([]);
  }, 240_000);

  it('forks of an egress VM each get a namespace of their own and keep reaching out; a restore as network none leads nowhere', async () => {
    const parent = await create();
    const target = `${allowedHost}:${port}`;
    // A connection's worth of state in memory: the guest's ARP entry for its gateway.
    expect((await probe(parent, [target]))[target]).toBe('open host-listener');
    const fork = await r!.api('POST', `/v1/sandboxes/${parent}/fork`, { count: 2 });
    expect(fork.status, JSON.stringify(fork.body)).toBe(201);
    expect(fork.body.kind).toBe('memory');
    const kids = fork.body.sandboxes.map((s: { id: string }) => s.id) as string[];
    const spaces = [parent, ...kids].map((s) => nsOfSandbox(s));
    expect(new Set(spaces).size).toBe(3);
    for (const s of [parent, ...kids]) expect((await probe(s, [target]))[target], s).toBe('open host-listener');
    // The same guest address in each (it is in the VM's memory), a different one on the bridge.
    const guestIps = await Promise.all(kids.map(async (k) => (await exec(k, ['sh', '-c', "grep -o '^eth0.*' /proc/net/route | head -1"])).stdout));
    expect(guestIps[0]).toBe(guestIps[1]);
    expect(new Set(spaces.map((ns) => nsAddress(ns!))).size).toBe(3);

    const snap = await r!.api('POST', `/v1/sandboxes/${parent}/snapshot`, {});
    expect(snap.status, JSON.stringify(snap.body)).toBe(201);
    const offline = await r!.api('POST', '/v1/sandboxes', { snapshot: snap.body.id, network: 'none' });
    expect(offline.status, JSON.stringify(offline.body)).toBe(201);
    expect((await probe(offline.body.id, [target]))[target]).toBe('closed');
    for (const s of [parent, ...kids, offline.body.id]) expect((await r!.api('DELETE', `/v1/sandboxes/${s}`)).status).toBe(204);
    expect((await r!.api('DELETE', `/v1/snapshots/${snap.body.id}`)).status).toBe(204);
    // A snapshot of a VM without a NIC cannot come back with egress.
    const plain = await create('none');
    const snap2 = await r!.api('POST', `/v1/sandboxes/${plain}/snapshot`, {});
    const widened = await r!.api('POST', '/v1/sandboxes', { snapshot: snap2.body.id, network: 'egress' });
    expect({ status: widened.status, code: widened.body.code }).toEqual({ status: 400, code: 'validation_failed' });
    expect((await r!.api('DELETE', `/v1/sandboxes/${plain}`)).status).toBe(204);
    expect(netnsOf(id), JSON.stringify({ parent, kids, offline: offline.body.id, plain })).toEqual([]);
  }, 300_000);

  it('the rule set: hooked from FORWARD, refuses private ranges and the host, masquerades its /24; gone when the runner stops', () => {
    const fwd = iptables('-S', `PDKVM-EGRESS-${id}`);
    for (const cidr of ['169.254.0.0/16', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.0/8']) expect(fwd, cidr).toContain(`-d ${cidr} -j REJECT`);
    expect(fwd).toContain(`-d ${allowedHost}/32 -j ACCEPT`);
    const subnet = /inet (\S+)/.exec(bridgeOf(id))![1]!.replace(/\.1\/24$/, '.0/24');
    expect(rulesOf(id).filter((l) => /^-A (FORWARD|INPUT|POSTROUTING)/.test(l)).sort()).toEqual([
      `-A FORWARD -i pdq${id} -j PDKVM-EGRESS-${id}`,
      `-A FORWARD -o pdq${id} -j REJECT --reject-with icmp-port-unreachable`,
      `-A FORWARD -o pdq${id} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
      `-A INPUT -i pdq${id} -j PDKVM-INPUT-${id}`,
      `-A POSTROUTING -s ${subnet} -j PDKVM-NAT-${id}`,
    ]);
    expect(readFileSync(`/run/paddock/vm-subnets/${subnet.replace('/', '_')}/owner`, 'utf8')).toMatch(new RegExp(`^${id} `));
  });

  it('the runner removes its bridge, namespaces, rules and subnet claim when it stops', async () => {
    const subnet = /inet (\S+)/.exec(bridgeOf(id))![1]!.replace(/\.1\/24$/, '.0/24');
    await create();
    await closeRunner(r!);
    removeRunnerState(r!.dataDir);
    r = undefined;
    expect(netnsOf(id)).toEqual([]);
    expect(bridgeOf(id)).toBe('');
    expect(rulesOf(id)).toEqual([]);
    expect(existsSync(`/run/paddock/vm-subnets/${subnet.replace('/', '_')}`)).toBe(false);
  }, 120_000);
});

describe.skipIf(skip)('qemu egress after kill -9 of the runner', () => {
  it('the restart removes the namespaces and the bridge the killed runner left; no QEMU outlives it', async () => {
    if (missing) throw new Error(`qemu egress tests cannot run: ${missing}`);
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'pqe-'));
    const id = runnerId(dataDir);
    const env = { PADDOCK_DRIVERS: 'qemu', PADDOCK_IMAGES_DIR: IMAGES_DIR, PADDOCK_POOL__SIZE: '0' };
    let server = await startServerProcess(dataDir, env);
    try {
      // Egress is offered once the runner's firewall is in.
      await pollUntil(async () => (await server.api('GET', '/health')).body.drivers.find((d: { name: string }) => d.name === 'qemu')?.capabilities.network,
        (n: string[] | undefined) => Boolean(n?.includes('egress')), 30_000, 'qemu egress offered');
      for (let i = 0; i < 2; i++) {
        const res = await server.api('POST', '/v1/sandboxes', { driver: 'qemu', network: 'egress', limits: { memory_mb: 128 } });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
      }
      expect(netnsOf(id)).toHaveLength(2);
      await stopServerProcess(server, 'SIGKILL');
      await pollUntil(async () => qemuProcesses(path.join(dataDir, 'qemu')).length, (n) => n === 0, 5000, 'QEMU gone with the runner');
      expect(netnsOf(id)).toHaveLength(2); // what the reaper is for

      server = await startServerProcess(dataDir, env);
      expect(netnsOf(id)).toEqual([]);
      await stopServerProcess(server, 'SIGTERM');
      expect(bridgeOf(id)).toBe('');
      expect(rulesOf(id)).toEqual([]);
    } finally {
      await stopServerProcess(server, 'SIGKILL').catch(() => undefined);
      removeRunnerState(dataDir);
    }
  }, 180_000);
});
