import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';

/**
 * Network namespaces for a test's hosts, each with its own address on a bridge of the test's own:
 * the bridge (in this namespace) is the gateway where the test's PostgreSQL listens, and the test
 * reaches each host at its address. Needs root and iproute2; `hostNetwork` returns undefined
 * without them (the test then uses loopback ports). Nothing routes beyond the bridge.
 */
export interface HostNetwork {
  /** The bridge's address, as the hosts reach this namespace. */
  gateway: string;
  /** The subnet, for PostgreSQL's pg_hba.conf. */
  cidr: string;
  hosts: { ns: string; address: string }[];
  /** Cuts host `i` off the bridge (its link down: packets dropped, no reset), or puts it back. */
  partition(i: number, cut: boolean): void;
  close(): void;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** Why namespaces cannot be made here, or undefined. */
export function netnsMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  if (!['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].some(existsSync)) return 'iproute2 (ip) is not installed';
  return undefined;
}

export function hostNetwork(n: number): HostNetwork | undefined {
  if (netnsMissing()) return undefined;
  const tag = randomBytes(2).toString('hex');
  // A /24 of 10.231.0.0/16 picked at random, so test files running at once do not meet.
  const net = `10.231.${parseInt(tag, 16) % 250}`;
  const bridge = `pdkf${tag}`;
  const hosts = Array.from({ length: n }, (_, i) => ({ ns: `paddock-test-${tag}-${i}`, address: `${net}.${10 + i}` }));
  const close = () => {
    for (const h of hosts) {
      try {
        ip('netns', 'del', h.ns);
      } catch {
        // not made, or gone already
      }
    }
    try {
      ip('link', 'del', bridge);
    } catch {
      // not made
    }
  };
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${net}.1/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    hosts.forEach((h, i) => {
      const [out, inner] = [`vh${tag}${i}`, `vn${tag}${i}`];
      ip('netns', 'add', h.ns);
      ip('link', 'add', out, 'type', 'veth', 'peer', 'name', inner);
      ip('link', 'set', out, 'master', bridge);
      ip('link', 'set', out, 'up');
      ip('link', 'set', inner, 'netns', h.ns);
      ip('-n', h.ns, 'link', 'set', inner, 'name', 'eth0');
      ip('-n', h.ns, 'addr', 'add', `${h.address}/24`, 'dev', 'eth0');
      ip('-n', h.ns, 'link', 'set', 'eth0', 'up');
      ip('-n', h.ns, 'link', 'set', 'lo', 'up');
    });
  } catch (err) {
    close();
    throw err;
  }
  const partition = (i: number, cut: boolean) => ip('link', 'set', `vh${tag}${i}`, cut ? 'down' : 'up');
  return { gateway: `${net}.1`, cidr: `${net}.0/24`, hosts, partition, close };
}
