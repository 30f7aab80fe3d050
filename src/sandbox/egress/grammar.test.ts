import { describe, expect, it } from 'vitest';
import { JobNetwork, networkAllow, networkMode } from './job-network.js';
import { AllowEntry, cidrContains, Ipv4Cidr, parseCidr, parseHostname } from './grammar.js';
import { chainRules, containerRules, egressChains, hookRules } from './rules.js';

describe('egress grammar', () => {
  it('parses IPv4 CIDRs and addresses, clearing host bits', () => {
    expect(parseCidr('203.0.113.7/24')).toBe('203.0.113.0/24');
    expect(parseCidr('8.8.8.8')).toBe('8.8.8.8/32');
    expect(parseCidr('0.0.0.0/0')).toBe('0.0.0.0/0');
    for (const bad of ['300.1.1.1', '1.2.3/8', '1.2.3.4/33', '01.2.3.4', '1.2.3.4/', '1.2.3.4/8/8', '', ' 1.2.3.4', 'fc00::/7']) {
      expect(parseCidr(bad), bad).toBeUndefined();
    }
    expect(cidrContains('10.0.0.0/8', '10.1.2.3/32')).toBe(true);
    expect(cidrContains('10.0.0.0/8', '11.0.0.0/8')).toBe(false);
    expect(cidrContains('10.1.0.0/16', '10.0.0.0/8')).toBe(false);
  });

  it('parses RFC 1123 hostnames and refuses what is not one', () => {
    expect(parseHostname('Example.COM.')).toBe('example.com');
    expect(parseHostname('localhost')).toBe('localhost');
    for (const bad of ['exa mple.com', '-a.com', 'a-.com', 'a..b', `${'a'.repeat(64)}.com`, '1.2.3.999', 'a_b.com', 'x;rm -rf', '']) {
      expect(parseHostname(bad), bad).toBeUndefined();
    }
  });

  it('allow entries: CIDR or hostname; config CIDRs: IPv4 only', () => {
    expect(AllowEntry.parse('203.0.113.9/24')).toBe('203.0.113.0/24');
    expect(AllowEntry.parse('Example.com')).toBe('example.com');
    for (const bad of ['300.1.1.1/8', '10.0.0.1/33', 'fc00::/7', 'a b', '1.2.3.4.5']) expect(AllowEntry.safeParse(bad).success, bad).toBe(false);
    expect(Ipv4Cidr.safeParse('example.com').success).toBe(false);
  });

  it('a job network is a mode string or {mode, allow}', () => {
    expect(networkMode(JobNetwork.parse('egress'))).toBe('egress');
    const n = JobNetwork.parse({ mode: 'egress', allow: ['203.0.113.0/24', 'example.com'] });
    expect([networkMode(n), networkAllow(n)]).toEqual(['egress', ['203.0.113.0/24', 'example.com']]);
    expect(JobNetwork.safeParse({ mode: 'none', allow: ['1.2.3.4'] }).success).toBe(false);
    expect(JobNetwork.safeParse({ mode: 'egress', allow: [] }).success).toBe(false);
    expect(JobNetwork.safeParse('bridge').success).toBe(false);
  });
});

describe('egress rules', () => {
  const chains = egressChains('0123456789ab');
  const plan = { bridge: 'pdk0123456789ab', chains, allowCidrs: ['10.1.0.0/16'], resolvers: ['10.255.255.53'], hostSubnets: ['192.0.2.0/24'] };

  it('chain names fit iptables (28 characters)', () => {
    for (const c of Object.values(chains)) expect(c.length).toBeLessThanOrEqual(28);
  });

  it('forward: no sandbox-to-sandbox, DNS, then the job list, then config allows, then the blocked ranges', () => {
    const fwd = chainRules(plan).v4.filter((r) => r.chain === chains.forward).map((r) => r.args.join(' '));
    expect(fwd[0]).toBe('-o pdk0123456789ab -j REJECT');
    const at = (s: string) => fwd.indexOf(s);
    expect(at('-d 10.255.255.53/32 -p udp --dport 53 -j RETURN')).toBeGreaterThan(0);
    expect(at(`-j ${chains.jobs}`)).toBeGreaterThan(at('-d 10.255.255.53/32 -p tcp --dport 53 -j RETURN'));
    expect(at('-d 10.1.0.0/16 -j RETURN')).toBeGreaterThan(at(`-j ${chains.jobs}`));
    for (const blocked of ['169.254.0.0/16', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '127.0.0.0/8', '192.0.2.0/24']) {
      expect(at(`-d ${blocked} -j REJECT`), blocked).toBeGreaterThan(at('-d 10.1.0.0/16 -j RETURN'));
    }
  });

  it('input: replies only, unless allowed; a job list narrows first', () => {
    const inp = chainRules(plan).v4.filter((r) => r.chain === chains.input).map((r) => r.args.join(' '));
    expect(inp[0]).toBe('-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN');
    expect(inp.at(-1)).toBe('-j REJECT');
    expect(inp.indexOf(`-j ${chains.jobs}`)).toBeLessThan(inp.indexOf('-d 10.1.0.0/16 -j RETURN'));
  });

  it('a container allow list returns its destinations and refuses the rest', () => {
    const rules = containerRules(chains, 'c0ffee0123456789', '172.30.0.5', ['203.0.113.0/24']).map((r) => r.args.join(' '));
    expect(rules).toEqual([
      '-s 172.30.0.5/32 -d 203.0.113.0/24 -m comment --comment paddock:c0ffee012345 -j RETURN',
      '-s 172.30.0.5/32 -m comment --comment paddock:c0ffee012345 -j REJECT',
    ]);
  });
});

describe('egress rules on a bridge Paddock owns (the qemu driver\'s)', () => {
  const chains = egressChains('0123456789ab', 'PDKVM');
  const plan = {
    bridge: 'pdq0123456789ab', chains, allowCidrs: ['198.51.100.7/32'], resolvers: ['10.255.255.53'], hostSubnets: [],
    owner: { own: { subnet: '10.213.7.0/24' } },
  };

  it('chain names fit iptables, and differ from the container bridge\'s', () => {
    for (const c of Object.values(chains)) expect(c.length).toBeLessThanOrEqual(28);
    expect(Object.values(chains)).not.toContain(egressChains('0123456789ab').forward);
  });

  it('hooked from FORWARD (no Docker needed): out through its chain, only replies in, then masqueraded', () => {
    const hooks = hookRules(plan);
    expect(hooks.v4.map((r) => `${r.chain} ${r.args.join(' ')}`)).toEqual([
      `FORWARD -i pdq0123456789ab -j ${chains.forward}`,
      'FORWARD -o pdq0123456789ab -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      'FORWARD -o pdq0123456789ab -j REJECT',
      `INPUT -i pdq0123456789ab -j ${chains.input}`,
    ]);
    expect(hooks.nat.map((r) => `${r.chain} ${r.args.join(' ')}`)).toEqual([`POSTROUTING -s 10.213.7.0/24 -j ${chains.nat}`]);
    expect(chainRules(plan).nat.map((r) => r.args.join(' '))).toEqual(['! -o pdq0123456789ab -j MASQUERADE']);
  });

  it('what it does not refuse it accepts (FORWARD may be Docker\'s DROP), after the same refusals', () => {
    const fwd = chainRules(plan).v4.filter((r) => r.chain === chains.forward).map((r) => r.args.join(' '));
    expect(fwd[0]).toBe('-o pdq0123456789ab -j REJECT');
    expect(fwd).toContain('-d 10.255.255.53/32 -p udp --dport 53 -j ACCEPT');
    expect(fwd.indexOf('-d 198.51.100.7/32 -j ACCEPT')).toBeGreaterThan(fwd.indexOf(`-j ${chains.jobs}`));
    expect(fwd.indexOf('-d 10.0.0.0/8 -j REJECT')).toBeGreaterThan(fwd.indexOf('-d 198.51.100.7/32 -j ACCEPT'));
    expect(fwd.at(-1)).toBe('-j ACCEPT');
    expect(fwd.filter((r) => r.endsWith('RETURN'))).toEqual([]);
    // The per-VM allow lists return to it, as on Docker's bridge.
    expect(containerRules(chains, 'sbx_1', '10.213.7.2', ['203.0.113.0/24'])[0]!.args.at(-1)).toBe('RETURN');
  });
});
