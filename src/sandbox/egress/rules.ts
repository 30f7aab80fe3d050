import { BLOCKED_IPV4 } from './grammar.js';

// The rule set of one runner's egress bridge, as iptables argument lists. Pure,
// so it can be read (and unit-tested) without touching the kernel.

export interface EgressChains {
  /** FORWARD path (jumped to from DOCKER-USER): what leaves the host. */
  forward: string;
  /** INPUT path: what reaches the host itself (gateway and every other host address). */
  input: string;
  /** Per-container allow lists, consulted from both of the above. */
  jobs: string;
  /** ip6tables: the egress bridge carries no IPv6 at all. */
  v6: string;
}

/** Chain names carry the runner id, so runners sharing a host never touch each other's rules. */
export function egressChains(runner: string): EgressChains {
  return {
    forward: `PADDOCK-EGRESS-${runner}`,
    input: `PADDOCK-INPUT-${runner}`,
    jobs: `PADDOCK-JOBS-${runner}`,
    v6: `PADDOCK-EGRESS6-${runner}`,
  };
}

export interface EgressPlan {
  bridge: string;
  chains: EgressChains;
  /** The runner's `egress.allow_cidrs`. */
  allowCidrs: string[];
  /** Resolvers (IPv4) that DNS (port 53) may reach; empty when `egress.dns` is off. */
  resolvers: string[];
  /** Networks the host is directly attached to (its LAN neighbours), refused like private ranges. */
  hostSubnets: string[];
}

/** A rule: the chain it goes in and its match/target arguments. */
export interface Rule {
  chain: string;
  args: string[];
}

/** Jumps into Paddock's chains from the built-in ones, inserted first. */
export function hookRules(p: EgressPlan): { v4: Rule[]; v6: Rule[] } {
  return {
    v4: [
      { chain: 'DOCKER-USER', args: ['-i', p.bridge, '-j', p.chains.forward] },
      { chain: 'INPUT', args: ['-i', p.bridge, '-j', p.chains.input] },
    ],
    v6: [
      { chain: 'FORWARD', args: ['-i', p.bridge, '-j', p.chains.v6] },
      { chain: 'FORWARD', args: ['-o', p.bridge, '-j', p.chains.v6] },
      { chain: 'INPUT', args: ['-i', p.bridge, '-j', p.chains.v6] },
    ],
  };
}

const REJECT = ['-j', 'REJECT'];
const RETURN = ['-j', 'RETURN'];

function dnsRules(chain: string, resolvers: string[]): Rule[] {
  return resolvers.flatMap((r) =>
    ['udp', 'tcp'].map((proto) => ({ chain, args: ['-d', `${r}/32`, '-p', proto, '--dport', '53', ...RETURN] })),
  );
}

/**
 * The chains' contents, in order. RETURN means "Paddock does not object"
 * (Docker's own rules still apply after it); REJECT answers at once, so a job
 * sees a refused connection instead of waiting for a timeout.
 */
export function chainRules(p: EgressPlan): { v4: Rule[]; v6: Rule[] } {
  const { forward, input, jobs, v6 } = p.chains;
  const fwd: Rule[] = [
    // Sandboxes never talk to each other (Docker's enable_icc=false does the same).
    { chain: forward, args: ['-o', p.bridge, ...REJECT] },
    ...dnsRules(forward, p.resolvers),
    // A job's own allow list narrows what follows; it never widens it.
    { chain: forward, args: ['-j', jobs] },
    ...p.allowCidrs.map((c) => ({ chain: forward, args: ['-d', c, ...RETURN] })),
    ...[...BLOCKED_IPV4, ...p.hostSubnets].map((c) => ({ chain: forward, args: ['-d', c, ...REJECT] })),
  ];
  const inp: Rule[] = [
    { chain: input, args: ['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...RETURN] },
    ...dnsRules(input, p.resolvers),
    { chain: input, args: ['-j', jobs] },
    ...p.allowCidrs.map((c) => ({ chain: input, args: ['-d', c, ...RETURN] })),
    // Every address of the host, whatever its range: gateway, other interfaces.
    { chain: input, args: REJECT },
  ];
  return { v4: [...fwd, ...inp], v6: [{ chain: v6, args: ['-j', 'DROP'] }] };
}

/**
 * One container's allow list, for the jobs chain: its allowed destinations
 * return (and then meet the runner-wide rules), everything else it sends is
 * refused. Tagged with the container so the rules can be told apart.
 */
export function containerRules(chains: EgressChains, containerId: string, ip: string, allowed: string[]): Rule[] {
  const tag = ['-m', 'comment', '--comment', `paddock:${containerId.slice(0, 12)}`];
  return [
    ...allowed.map((c) => ({ chain: chains.jobs, args: ['-s', `${ip}/32`, '-d', c, ...tag, ...RETURN] })),
    { chain: chains.jobs, args: ['-s', `${ip}/32`, ...tag, ...REJECT] },
  ];
}
