import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { isIpv4, parseCidr } from './grammar.js';
import { chainRules, containerRules, type EgressPlan, hookedBuiltins, hookRules, ownSubnet, type Rule } from './rules.js';

type Family = 'iptables' | 'ip6tables';

const BRIDGE_NF = '/proc/sys/net/bridge/bridge-nf-call-iptables';
const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';
const IPV6_ON = () => existsSync('/proc/net/if_inet6');

function run(bin: Family, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    // -w: wait for the xtables lock instead of failing when dockerd holds it.
    execFile(bin, ['-w', '5', ...args], { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${bin} ${args.join(' ')}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
  });
}

/**
 * Why Paddock cannot firewall egress sandboxes here, or undefined. Reads only;
 * `paddock doctor` calls it next to a live runner. On a bridge of its own (`own`),
 * Paddock needs FORWARD and the nat table instead of Docker's chain and br_netfilter
 * (its ports are isolated, so nothing is bridged between sandboxes).
 */
export async function firewallMissing(owner: EgressPlan['owner'] = 'docker'): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'the egress firewall needs root (iptables)';
  if (owner === 'docker') {
    try {
      await run('iptables', ['-S', 'DOCKER-USER']);
    } catch (err) {
      return `iptables is not usable or Docker's DOCKER-USER chain is missing: ${(err as Error).message}`;
    }
    if (!existsSync(BRIDGE_NF)) return 'br_netfilter is not loaded (modprobe br_netfilter), so bridged traffic would bypass iptables';
  } else {
    try {
      await run('iptables', ['-S', 'FORWARD']);
      await run('iptables', ['-t', 'nat', '-S', 'POSTROUTING']);
    } catch (err) {
      return `iptables (filter and nat tables) is not usable: ${(err as Error).message}`;
    }
  }
  if (IPV6_ON()) {
    try {
      await run('ip6tables', ['-S', 'FORWARD']);
    } catch (err) {
      return `IPv6 is on but ip6tables is not usable: ${(err as Error).message}`;
    }
  }
  return undefined;
}

/** The IPv4 nameservers Docker's embedded DNS forwards to (loopback ones are not reached from a bridge). */
export function hostResolvers(): string[] {
  const found = new Set<string>();
  for (const file of ['/etc/resolv.conf', '/run/systemd/resolve/resolv.conf']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/^\s*nameserver\s+(\S+)/gm)) {
      const ip = m[1]!;
      if (isIpv4(ip) && !ip.startsWith('127.')) found.add(ip);
    }
  }
  return [...found];
}

/** The IPv4 networks the host's interfaces are on. */
export function hostSubnets(): string[] {
  const out = new Set<string>();
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || a.internal || !a.cidr) continue;
      const c = parseCidr(a.cidr);
      if (c) out.add(c);
    }
  }
  return [...out];
}

/**
 * The kernel side of one runner's egress isolation. Every change goes through
 * one queue, so rules are added and removed in the order they were asked for.
 */
export class EgressFirewall {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly perContainer = new Map<string, Rule[]>();
  private readonly v6 = IPV6_ON();

  constructor(readonly plan: EgressPlan) {}

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Removes whatever an earlier process of this runner left, then installs the rule set. */
  install(): Promise<void> {
    return this.serial(async () => {
      if (existsSync(BRIDGE_NF) && readFileSync(BRIDGE_NF, 'utf8').trim() !== '1') {
        // Without it, traffic between two sandboxes on the bridge never meets iptables.
        writeFileSync(BRIDGE_NF, '1');
      }
      // Docker turns forwarding on for its bridges; on Paddock's own, Paddock does.
      if (ownSubnet(this.plan) && readFileSync(IP_FORWARD, 'utf8').trim() !== '1') writeFileSync(IP_FORWARD, '1');
      await this.removeAll();
      const chains = chainRules(this.plan);
      const hooks = hookRules(this.plan);
      const { forward, input, jobs, v6, nat } = this.plan.chains;
      // Chains first, filled; the jumps into them last, so nothing is ever half-open.
      for (const c of [jobs, forward, input]) await createChain('iptables', c);
      for (const r of chains.v4) await run('iptables', ['-A', r.chain, ...r.args]);
      // On a reinstall (rules flushed from outside), containers keep their allow lists.
      for (const rules of this.perContainer.values()) {
        for (const r of rules) await run('iptables', ['-A', r.chain, ...r.args]);
      }
      if (chains.nat.length) {
        await createChain('iptables', nat, 'nat');
        for (const r of chains.nat) await run('iptables', ['-t', 'nat', '-A', r.chain, ...r.args]);
      }
      // Inserted first in reverse, so they stand in the built-in chains in the order listed.
      for (const r of [...hooks.v4].reverse()) await run('iptables', ['-I', r.chain, '1', ...r.args]);
      for (const r of [...hooks.nat].reverse()) await run('iptables', ['-t', 'nat', '-I', r.chain, '1', ...r.args]);
      if (this.v6) {
        await createChain('ip6tables', v6);
        for (const r of chains.v6) await run('ip6tables', ['-A', r.chain, ...r.args]);
        for (const r of [...hooks.v6].reverse()) await run('ip6tables', ['-I', r.chain, '1', ...r.args]);
      }
    });
  }

  /** Are the jumps into Paddock's chains still there (a firewall reload may flush them)? */
  intact(): Promise<boolean> {
    return this.serial(async () => {
      const hooks = hookRules(this.plan);
      try {
        for (const r of hooks.v4) await run('iptables', ['-C', r.chain, ...r.args]);
        for (const r of hooks.nat) await run('iptables', ['-t', 'nat', '-C', r.chain, ...r.args]);
        if (this.v6) for (const r of hooks.v6) await run('ip6tables', ['-C', r.chain, ...r.args]);
        return true;
      } catch {
        return false;
      }
    });
  }

  /** Restricts one container (by its address on the bridge) to `allowed`; before its job runs. */
  allowOnly(containerId: string, ip: string, allowed: string[]): Promise<void> {
    return this.serial(async () => {
      const rules = containerRules(this.plan.chains, containerId, ip, allowed);
      this.perContainer.set(containerId, rules);
      // Inserted first: a stale rule for a reused address never shadows the newest one.
      for (const r of [...rules].reverse()) await run('iptables', ['-I', r.chain, '1', ...r.args]);
    });
  }

  /** After the container is gone (never before: until then its restriction must hold). */
  release(containerId: string): Promise<void> {
    const rules = this.perContainer.get(containerId);
    if (!rules) return Promise.resolve();
    this.perContainer.delete(containerId);
    return this.serial(async () => {
      for (const r of rules) await run('iptables', ['-D', r.chain, ...r.args]).catch(() => undefined);
    });
  }

  /** Removes every rule and chain of this runner. */
  uninstall(): Promise<void> {
    this.perContainer.clear();
    return this.serial(() => this.removeAll());
  }

  private async removeAll(): Promise<void> {
    const { forward, input, jobs, v6, nat } = this.plan.chains;
    const builtins = hookedBuiltins(this.plan);
    const own = ownSubnet(this.plan);
    // On its own bridge the hooks include rules that jump to no chain of Paddock's (accept replies, refuse the rest).
    await removeChains('iptables', builtins.filter, [forward, input, jobs], own ? this.plan.bridge : undefined);
    if (builtins.nat.length) await removeChains('iptables', builtins.nat, [nat], undefined, 'nat');
    if (this.v6) await removeChains('ip6tables', ['FORWARD', 'INPUT'], [v6]);
  }
}

async function createChain(bin: Family, chain: string, table = 'filter'): Promise<void> {
  await run(bin, ['-t', table, '-N', chain]).catch(() => run(bin, ['-t', table, '-F', chain]));
}

/**
 * Deletes every jump into `chains` from the built-in chains (whatever its match), and with
 * `outTo` every rule there about traffic out to that bridge; then the chains.
 */
async function removeChains(bin: Family, builtins: string[], chains: string[], outTo?: string, table = 'filter'): Promise<void> {
  const t = ['-t', table];
  for (const builtin of builtins) {
    const listing = await run(bin, [...t, '-S', builtin]).catch(() => '');
    for (const line of listing.split('\n')) {
      const words = line.trim().split(/\s+/);
      const target = words[words.indexOf('-j') + 1];
      const out = words.indexOf('-o');
      const ours = (target && chains.includes(target)) || (outTo !== undefined && out > 0 && words[out + 1] === outTo);
      if (words[0] !== '-A' || !ours) continue;
      await run(bin, [...t, '-D', ...words.slice(1)]).catch(() => undefined);
    }
  }
  for (const c of chains) await run(bin, [...t, '-F', c]).catch(() => undefined);
  for (const c of chains) await run(bin, [...t, '-X', c]).catch(() => undefined);
}
