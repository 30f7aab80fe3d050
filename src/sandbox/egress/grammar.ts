import { z } from 'zod';

// The grammar of egress allow lists: IPv4 CIDRs (or single addresses) and DNS
// hostnames. Egress networks are IPv4-only, so IPv6 entries are refused.

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const isIpv4 = (s: string): boolean => IPV4.test(s);

export const toInt = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
export const toDotted = (n: number): string => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

/** `a.b.c.d/n` or `a.b.c.d` (as /32), host bits cleared; undefined unless it is one. */
export function parseCidr(s: string): string | undefined {
  const [ip, prefix, extra] = s.split('/');
  if (extra !== undefined || !ip || !isIpv4(ip)) return undefined;
  if (prefix !== undefined && !/^(3[0-2]|[12]?[0-9])$/.test(prefix)) return undefined;
  const bits = prefix === undefined ? 32 : Number(prefix);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return `${toDotted((toInt(ip) & mask) >>> 0)}/${bits}`;
}

/** Does CIDR `outer` contain every address of CIDR `inner`? (both as parseCidr returns them) */
export function cidrContains(outer: string, inner: string): boolean {
  const [oIp, oBits] = outer.split('/') as [string, string];
  const [iIp, iBits] = inner.split('/') as [string, string];
  if (Number(iBits) < Number(oBits)) return false;
  return parseCidr(`${iIp}/${oBits}`) === `${oIp}/${oBits}`;
}

/** An RFC 1123 hostname, lower-cased; its last label is not all digits (that would be a bad address). */
export function parseHostname(s: string): string | undefined {
  const name = s.toLowerCase().replace(/\.$/, '');
  if (name.length < 1 || name.length > 253) return undefined;
  const labels = name.split('.');
  if (!labels.every((l) => LABEL.test(l))) return undefined;
  if (/^[0-9]+$/.test(labels.at(-1)!)) return undefined;
  return name;
}

const looksIpv6 = (s: string) => s.includes(':');

/** An IPv4 CIDR or address, normalized to `a.b.c.d/n`. */
export const Ipv4Cidr = z.string().max(18).transform((s, ctx) => {
  const cidr = parseCidr(s);
  if (cidr) return cidr;
  ctx.addIssue({
    code: 'custom',
    continue: true,
    message: looksIpv6(s)
      ? `"${s}": egress is IPv4-only (IPv6 is dropped), so an IPv6 range allows nothing`
      : `"${s}" is not an IPv4 address or CIDR (a.b.c.d/n)`,
  });
  return z.NEVER;
});

/** One entry of a job's allow list: an IPv4 CIDR/address, or a hostname resolved when the sandbox starts. */
export const AllowEntry = z.string().max(253).transform((s, ctx) => {
  if (/^[0-9./]+$/.test(s)) {
    const cidr = parseCidr(s);
    if (cidr) return cidr;
  } else {
    const host = looksIpv6(s) ? undefined : parseHostname(s);
    if (host) return host;
  }
  ctx.addIssue({
    code: 'custom',
    continue: true,
    message: looksIpv6(s)
      ? `"${s}": egress is IPv4-only (IPv6 is dropped), so an IPv6 entry allows nothing`
      : `"${s}" is neither an IPv4 CIDR (a.b.c.d/n) nor a hostname`,
  });
  return z.NEVER;
});

/**
 * What egress sandboxes never reach unless the runner's `egress.allow_cidrs`
 * says so: this-network, private (RFC 1918), carrier-grade NAT (100.64/10, also
 * Alibaba's metadata), loopback, link-local (169.254/16: cloud metadata),
 * IETF protocol assignments, benchmarking, multicast, reserved and broadcast.
 * The host's own addresses are refused separately (they are reached via INPUT).
 */
export const BLOCKED_IPV4 = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '224.0.0.0/4',
  '240.0.0.0/4',
] as const;
