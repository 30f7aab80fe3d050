import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import type { Config } from '../../config/schema.js';
import { PaddockError } from '../../errors.js';
import type { Logger } from '../../util/log.js';
import { EgressFirewall, firewallMissing, hostResolvers, hostSubnets } from '../egress/firewall.js';
import { toDotted, toInt } from '../egress/grammar.js';
import { resolveAllowList } from '../egress/resolve.js';
import { egressChains } from '../egress/rules.js';
import { CLAIMS_DIR, claimSubnet, releaseSubnet, SLOT_BITS } from './subnets.js';

/**
 * What every `egress` VM sees, identical in each: its NIC's MAC and address, the TAP at the other
 * end. A restored VM keeps the network state in its memory (ARP cache, routes), so a fork must
 * find the same TAP name, addresses and MAC in its own namespace.
 */
export const GUEST_NET = { tap: 'tap0', tapMac: '02:00:00:00:00:01', guestMac: '02:00:00:00:00:02', tapIp: '172.30.0.1', guestIp: '172.30.0.2', prefix: 30 };

const NETNS_DIR = '/run/netns';

function sh(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** A locally administered MAC carrying the IPv4 address (02:50:a:b:c:d). */
export const macOf = (ip: string): string => ['02', '50', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');

/** One VM's place on the bridge: its namespace (QEMU runs in it) and that namespace's address. */
export interface VmAttachment {
  netns: string;
  ip: string;
}

/**
 * The qemu driver's egress: a bridge of the runner's own (`pdq<runner>`, ports isolated), one
 * network namespace per VM joined to it by a veth pair, and in that namespace the VM's TAP on a
 * /30 and a masquerade — double NAT, as Firecracker's Actions orchestrator does it. The bridge is
 * firewalled by the same rule set as the containers' (public internet only, allow lists), hooked
 * from FORWARD since Docker may not be there. Installed when the driver starts; if it cannot be,
 * egress is unavailable (never open).
 */
export class VmNetwork {
  readonly bridge: string;
  private readonly prefix: string;
  private readonly firewall: EgressFirewall;
  /** This runner's /24 of `qemu.egress_subnet`, claimed when egress starts (claimSubnet). */
  private subnet = '';
  private gateway = '';
  private readonly used = new Map<string, number>();
  private next = 2;
  private started: Promise<void> | undefined;
  private failed: string | undefined;
  readonly resolvers: string[];

  constructor(
    private readonly runner: string,
    private readonly pool: string,
    config: Config['egress'],
    private readonly log: Logger,
    private readonly claimsDir = CLAIMS_DIR,
  ) {
    this.bridge = `pdq${runner}`.slice(0, 15);
    this.prefix = `pdq-${runner}-`;
    this.resolvers = config.dns ? hostResolvers() : [];
    this.firewall = new EgressFirewall({
      bridge: this.bridge,
      chains: egressChains(runner, 'PDKVM'),
      allowCidrs: config.allow_cidrs,
      resolvers: this.resolvers,
      hostSubnets: [],
      owner: { own: { subnet: pool } },
    });
  }

  get failure(): string | undefined {
    return this.failed;
  }

  /** Why egress cannot be offered, or undefined; reads only. */
  async unavailable(): Promise<string | undefined> {
    if (this.failed) return this.failed;
    if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing (the VMs\' TAP devices)';
    try {
      await sh('ip', ['-V']);
    } catch {
      return 'ip (iproute2) is not installed';
    }
    return firewallMissing(this.firewall.plan.owner);
  }

  /** Installs the rules and the bridge (once); a failure is remembered and makes egress unavailable. */
  start(): Promise<void> {
    this.started ??= this.install();
    return this.started;
  }

  private async install(): Promise<void> {
    try {
      const missing = await this.unavailable();
      if (missing) throw new Error(missing);
      // Without a bridge of this runner yet, no host network is its own.
      await sh('ip', ['link', 'del', this.bridge]).catch(() => undefined);
      const nets = hostSubnets();
      this.subnet = await claimSubnet(this.claimsDir, this.pool, this.runner, nets);
      this.gateway = toDotted(toInt(this.subnet.split('/')[0]!) + 1);
      this.firewall.plan.owner = { own: { subnet: this.subnet } };
      this.firewall.plan.hostSubnets = nets;
      await this.firewall.install();
      await this.createBridge();
      this.log.info({ bridge: this.bridge, subnet: this.subnet }, 'VM egress firewall installed');
    } catch (err) {
      this.failed = `VM egress could not be set up: ${(err as Error).message}`;
      this.log.error({ err }, 'qemu egress is unavailable');
      await this.firewall.uninstall().catch(() => undefined);
      await sh('ip', ['link', 'del', this.bridge]).catch(() => undefined);
      if (this.subnet) await releaseSubnet(this.claimsDir, this.subnet, this.runner).catch(() => undefined);
    }
  }

  private async createBridge(): Promise<void> {
    await sh('ip', ['-batch', '-'], [
      // A bridge without a MAC of its own takes its lowest port's, so it would change as VMs come
      // and go, and namespaces would send to the gateway's old one.
      `link add ${this.bridge} address ${macOf(this.gateway)} type bridge`,
      `addr add ${this.gateway}/${SLOT_BITS} dev ${this.bridge}`,
      `link set ${this.bridge} up`,
    ].join('\n') + '\n');
    await writeFile(`/proc/sys/net/ipv6/conf/${this.bridge}/disable_ipv6`, '1').catch(() => undefined);
  }

  /** Before an egress VM starts: rules in place; throws when egress is unavailable. */
  async ready(): Promise<void> {
    await this.start();
    if (this.failed) throw new PaddockError('driver_unavailable', this.failed);
  }

  /** A firewall reload can flush the jumps into Paddock's chains; put them back (called periodically). */
  async verify(): Promise<void> {
    if (!this.started || this.failed) return;
    await this.started;
    if (this.failed || (await this.firewall.intact())) return;
    this.log.error({ bridge: this.bridge }, 'VM egress firewall rules were removed from outside; installing them again');
    await this.firewall.install().catch((err) => {
      this.failed = `VM egress firewall could not be reinstalled: ${(err as Error).message}`;
    });
  }

  /** The next free address, round the /24 (.0 network, .1 gateway, .255 broadcast), so one just freed rests. */
  private allocate(vmId: string): string {
    const taken = new Set(this.used.values());
    for (let k = 0; k < 253; k++) {
      const i = 2 + ((this.next - 2 + k) % 253);
      if (taken.has(i)) continue;
      this.used.set(vmId, i);
      this.next = i + 1;
      return toDotted(toInt(this.subnet.split('/')[0]!) + i);
    }
    throw new PaddockError('overloaded', `no address left on the VM bridge (${this.subnet})`);
  }

  netnsOf(vmId: string): string {
    return `${this.prefix}${vmId}`;
  }

  /**
   * Makes the namespace a VM runs in: a veth to the bridge (isolated port, the namespace's address),
   * the TAP the VM's NIC opens, forwarding and a masquerade to the bridge; IPv6 off. `offline`: the
   * TAP alone, a dead end (a memory snapshot taken with a NIC, restored as network `none`).
   */
  async attach(vmId: string, opts: { offline?: boolean } = {}): Promise<VmAttachment> {
    const netns = this.netnsOf(vmId);
    const g = GUEST_NET;
    const tap = [
      'link set lo up',
      `tuntap add dev ${g.tap} mode tap`,
      `link set ${g.tap} address ${g.tapMac}`,
      `addr add ${g.tapIp}/${g.prefix} dev ${g.tap}`,
      `link set ${g.tap} up`,
    ];
    if (opts.offline) {
      this.used.set(vmId, 0);
      try {
        await sh('ip', ['netns', 'add', netns]);
        await sh('ip', ['-n', netns, '-batch', '-'], tap.join('\n') + '\n');
        return { netns, ip: '' };
      } catch (err) {
        await this.detach(vmId);
        throw new PaddockError('driver_error', `cannot set up the VM's network: ${(err as Error).message}`);
      }
    }
    await this.ready();
    const ip = this.allocate(vmId);
    // The host end's name only has to be unique on the host; it goes when the namespace does.
    const host = `pqv${Math.random().toString(16).slice(2, 14).padEnd(12, '0')}`;
    try {
      await sh('ip', ['-batch', '-'], [
        `netns add ${netns}`,
        // Its MAC follows from its address: a reused address finds the host's ARP entry still right.
        `link add ${host} type veth peer name eth0 address ${macOf(ip)} netns ${netns}`,
        `link set ${host} master ${this.bridge}`,
        `link set dev ${host} type bridge_slave isolated on`,
        `link set ${host} up`,
      ].join('\n') + '\n');
      await sh('ip', ['-n', netns, '-batch', '-'], [
        ...tap,
        `addr add ${ip}/${SLOT_BITS} dev eth0`,
        'link set eth0 up',
        `route add default via ${this.gateway}`,
      ].join('\n') + '\n');
      await sh('ip', ['netns', 'exec', netns, 'sh', '-ec', [
        'echo 1 > /proc/sys/net/ipv4/ip_forward',
        'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6',
        'iptables -w 5 -t nat -A POSTROUTING -o eth0 -j MASQUERADE',
      ].join('\n')]);
      return { netns, ip };
    } catch (err) {
      await this.detach(vmId);
      throw new PaddockError('driver_error', `cannot set up the VM's network: ${(err as Error).message}`);
    }
  }

  /** Narrows one VM (by its namespace's address) to its job's allow list, before the job runs. */
  async restrict(vmId: string, ip: string, allow: string[]): Promise<void> {
    const { cidrs, unresolved } = await resolveAllowList(allow);
    if (unresolved.length) this.log.warn({ unresolved }, 'allow-list names did not resolve; they allow nothing');
    await this.firewall.allowOnly(vmId, ip, cidrs);
  }

  /** After the VM is gone (never before: until then its restriction must hold). */
  async detach(vmId: string): Promise<void> {
    if (!this.used.has(vmId)) return;
    await sh('ip', ['netns', 'del', this.netnsOf(vmId)]).catch(() => undefined);
    this.used.delete(vmId);
    await this.firewall.release(vmId);
  }

  /**
   * Namespaces of this runner that no VM here owns (a killed runner's); their veths go with them.
   * Before this process set egress up, the bridge is a killed runner's too.
   */
  async reap(): Promise<number> {
    if (!this.started) await sh('ip', ['link', 'del', this.bridge]).catch(() => undefined);
    const names = (await readdir(NETNS_DIR).catch(() => [] as string[])).filter((n) => n.startsWith(this.prefix));
    let n = 0;
    for (const name of names) {
      if (this.used.has(name.slice(this.prefix.length))) continue;
      await sh('ip', ['netns', 'del', name]).catch((err: Error) => this.log.warn({ err, name }, 'removing a VM namespace failed'));
      n++;
    }
    return n;
  }

  /** When the driver closes, after its VMs are gone: the bridge, then the rules. */
  async close(): Promise<void> {
    if (!this.started) return;
    await this.started;
    await this.reap();
    await sh('ip', ['link', 'del', this.bridge]).catch(() => undefined);
    await this.firewall.uninstall();
    if (this.subnet) await releaseSubnet(this.claimsDir, this.subnet, this.runner);
  }
}
