import { lookup } from 'node:dns/promises';
import { parseCidr } from './grammar.js';

const LOOKUP_TIMEOUT_MS = 5000;

/**
 * A job's allow list as CIDRs: hostnames are resolved (IPv4, the host's
 * resolver) when its sandbox starts. A name that does not resolve in time
 * allows nothing; the list only ever narrows, so failing to resolve is closed.
 */
export async function resolveAllowList(entries: string[]): Promise<{ cidrs: string[]; unresolved: string[] }> {
  const cidrs = new Set<string>();
  const unresolved: string[] = [];
  await Promise.all(
    entries.map(async (entry) => {
      const cidr = parseCidr(entry);
      if (cidr) return void cidrs.add(cidr);
      const addrs = await withTimeout(lookup(entry, { all: true, family: 4 }), LOOKUP_TIMEOUT_MS).catch(() => []);
      if (!addrs.length) unresolved.push(entry);
      for (const a of addrs) cidrs.add(`${a.address}/32`);
    }),
  );
  return { cidrs: [...cidrs].sort(), unresolved };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
