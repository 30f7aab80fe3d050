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
  /** nat table, on a bridge Paddock owns (no Docker to masquerade for it). */
  nat: string;
}

/**
 * Chain names carry the runner id, so runners sharing a host never touch each other's rules; the
 * prefix tells a runner's container bridge (`PADDOCK`) from its VM bridge (`PDKVM`). At most 28
 * characters each (iptables).
 */
export function egressChains(runner: string, prefix: 'PADDOCK' | 'PDKVM' = 'PADDOCK'): EgressChains {
  return {
    forward: `${prefix}-EGRESS-${runner}`,
    input: `${prefix}-INPUT-${runner}`,
    jobs: `${prefix}-JOBS-${runner}`,
    v6: `${prefix}-EGRESS6-${runner}`,
    nat: `${prefix}-NAT-${runner}`,
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
  /**
   * Docker's bridge: hooked from DOCKER-USER, and what Paddock does not refuse goes on to Docker's
   * own rules (RETURN). A bridge Paddock made itself (the qemu driver's, `own`): hooked from FORWARD,
   * what is not refused is accepted here (FORWARD's policy may be Docker's DROP), replies come back
   * in, and the bridge's subnet is masqueraded.
   */
  owner?: 'docker' | { own: { subnet: string } };
}

/** A rule: the chain it goes in and its match/target arguments. */
export interface Rule {
  chain: string;
  args: string[];
}

/** Jumps into Paddock's chains from the built-in ones, in order; they go first in each. */
export function hookRules(p: EgressPlan): { v4: Rule[]; v6: Rule[]; nat: Rule[] } {
  const own = ownSubnet(p);
  return {
    v4: own
      ? [
          { chain: 'FORWARD', args: ['-i', p.bridge, '-j', p.chains.forward] },
          // Replies to what a sandbox opened come in; nothing else does (a LAN routing to the subnet).
          { chain: 'FORWARD', args: ['-o', p.bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...ACCEPT] },
          { chain: 'FORWARD', args: ['-o', p.bridge, ...REJECT] },
          { chain: 'INPUT', args: ['-i', p.bridge, '-j', p.chains.input] },
        ]
      : [
          { chain: 'DOCKER-USER', args: ['-i', p.bridge, '-j', p.chains.forward] },
          { chain: 'INPUT', args: ['-i', p.bridge, '-j', p.chains.input] },
        ],
    nat: own ? [{ chain: 'POSTROUTING', args: ['-s', own, '-j', p.chains.nat] }] : [],
    v6: [
      { chain: 'FORWARD', args: ['-i', p.bridge, '-j', p.chains.v6] },
      { chain: 'FORWARD', args: ['-o', p.bridge, '-j', p.chains.v6] },
      { chain: 'INPUT', args: ['-i', p.bridge, '-j', p.chains.v6] },
    ],
  };
}

const REJECT = ['-j', 'REJECT'];
const RETURN = ['-j', 'RETURN'];
const ACCEPT = ['-j', 'ACCEPT'];

/** The subnet of a bridge Paddock owns, or undefined on Docker's. */
export const ownSubnet = (p: EgressPlan): string | undefined => (typeof p.owner === 'object' ? p.owner.own.subnet : undefined);

/** The built-in chains a plan's hooks go in (and stale ones are removed from), per table. */
export function hookedBuiltins(p: EgressPlan): { filter: string[]; nat: string[] } {
  return ownSubnet(p) ? { filter: ['FORWARD', 'INPUT'], nat: ['POSTROUTING'] } : { filter: ['DOCKER-USER', 'INPUT', 'FORWARD'], nat: [] };
}

function dnsRules(chain: string, resolvers: string[], ok = RETURN): Rule[] {
  return resolvers.flatMap((r) =>
    ['udp', 'tcp'].map((proto) => ({ chain, args: ['-d', `${r}/32`, '-p', proto, '--dport', '53', ...ok] })),
  );
}

/**
 * The chains' contents, in order. RETURN means "Paddock does not object"
 * (Docker's own rules still apply after it); REJECT answers at once, so a job
 * sees a refused connection instead of waiting for a timeout.
 */
export function chainRules(p: EgressPlan): { v4: Rule[]; v6: Rule[]; nat: Rule[] } {
  const { forward, input, jobs, v6, nat } = p.chains;
  const own = ownSubnet(p);
  // On Docker's bridge "not refused" returns to Docker's rules; on Paddock's own it is accepted here.
  const ok = own ? ACCEPT : RETURN;
  const fwd: Rule[] = [
    // Sandboxes never talk to each other (Docker's enable_icc=false does the same).
    { chain: forward, args: ['-o', p.bridge, ...REJECT] },
    ...dnsRules(forward, p.resolvers, ok),
    // A job's own allow list narrows what follows; it never widens it.
    { chain: forward, args: ['-j', jobs] },
    ...p.allowCidrs.map((c) => ({ chain: forward, args: ['-d', c, ...ok] })),
    ...[...BLOCKED_IPV4, ...p.hostSubnets].map((c) => ({ chain: forward, args: ['-d', c, ...REJECT] })),
    ...(own ? [{ chain: forward, args: ACCEPT }] : []),
  ];
  const inp: Rule[] = [
    { chain: input, args: ['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...RETURN] },
    ...dnsRules(input, p.resolvers),
    { chain: input, args: ['-j', jobs] },
    ...p.allowCidrs.map((c) => ({ chain: input, args: ['-d', c, ...RETURN] })),
    // Every address of the host, whatever its range: gateway, other interfaces.
    { chain: input, args: REJECT },
  ];
  return {
    v4: [...fwd, ...inp],
    v6: [{ chain: v6, args: ['-j', 'DROP'] }],
    nat: own ? [{ chain: nat, args: ['!', '-o', p.bridge, '-j', 'MASQUERADE'] }] : [],
  };
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
