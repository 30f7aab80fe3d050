import { BlockList, isIP } from 'node:net';
import { BLOCKED_IPV4 } from '../../sandbox/egress/grammar.js';

/**
 * Which addresses a callback may not reach unless `callbacks.allow_private` is on: the IPv4 ranges
 * egress sandboxes are kept from (one list, src/sandbox/egress/grammar.ts) and their IPv6 kin.
 * Node's BlockList applies IPv4 rules to IPv4-mapped IPv6 addresses (::ffff:127.0.0.1) itself.
 */
const BLOCKED_IPV6: readonly [string, number][] = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['::', 96], // IPv4-compatible (deprecated), ::a.b.c.d
  ['100::', 64], // discard
  ['2001::', 32], // Teredo: tunnels to an address Paddock cannot see
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local (the IPv6 private range)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
];

const blocked = new BlockList();
for (const cidr of BLOCKED_IPV4) {
  const [ip, bits] = cidr.split('/') as [string, string];
  blocked.addSubnet(ip, Number(bits), 'ipv4');
}
for (const [ip, bits] of BLOCKED_IPV6) blocked.addSubnet(ip, bits, 'ipv6');

/** True for an address a callback must not reach by default; anything that is not an IP address counts as private. */
export function isPrivateAddress(address: string): boolean {
  const ip = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(ip);
  if (family === 4) return blocked.check(ip, 'ipv4');
  if (family !== 6) return true;
  if (blocked.check(ip, 'ipv6')) return true;
  // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address that is what gets reached.
  const embedded = embeddedIpv4(ip);
  return embedded !== undefined && blocked.check(embedded, 'ipv4');
}

function embeddedIpv4(ip: string): string | undefined {
  const g = ipv6Groups(ip);
  if (!g) return undefined;
  const dotted = (hi: number, lo: number) => [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return dotted(g[6]!, g[7]!);
  if (g[0] === 0x2002) return dotted(g[1]!, g[2]!);
  return undefined;
}

/** The eight 16-bit groups of an IPv6 address (as isIP accepts it), or undefined. */
function ipv6Groups(ip: string): number[] | undefined {
  let text = ip.split('%')[0]!.toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const o = v4[1]!.split('.').map(Number);
    text = `${text.slice(0, -v4[1]!.length)}${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parts = (s: string) => (s ? s.split(':').map((h) => parseInt(h, 16)) : []);
  const left = parts(head);
  const right = tail === undefined ? [] : parts(tail);
  const fill = tail === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...new Array<number>(Math.max(0, fill)).fill(0), ...right];
  return groups.length === 8 && groups.every((n) => Number.isInteger(n)) ? groups : undefined;
}
