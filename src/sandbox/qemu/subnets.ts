import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cidrContains, toDotted, toInt } from '../egress/grammar.js';

// Which /24 a runner's VM bridge is on (network.ts): claimed on this host, so runners never share one.

/** Each runner's VM bridge is one /24 of the pool. */
export const SLOT_BITS = 24;
/** Claims of /24s by runners on this host (tmpfs: a reboot frees them all). */
export const CLAIMS_DIR = '/run/paddock/vm-subnets';
/** A claim whose owner file is not there yet is being made, unless it is this old. */
const CLAIM_WRITE_MS = 10_000;

const slotName = (subnet: string) => subnet.replace('/', '_');

/**
 * A /24 of `pool` for this runner's bridge, claimed on this host: runners sharing a host must not
 * put the same subnet on two bridges (the host would route one's replies to the other). A claim is
 * a directory (mkdir is atomic) holding its runner and pid; one whose process is gone is taken
 * over. The search starts at a slot hashed from the runner id, and skips networks the host is on.
 */
export async function claimSubnet(dir: string, pool: string, runner: string, hostNets: string[]): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const [base, bitsS] = pool.split('/') as [string, string];
  const slots = 2 ** (SLOT_BITS - Number(bitsS));
  const start = parseInt(runner.slice(0, 8), 16) % slots || 0;
  for (let k = 0; k < slots; k++) {
    const subnet = `${toDotted(toInt(base) + ((start + k) % slots) * 256)}/${SLOT_BITS}`;
    if (hostNets.some((n) => cidrContains(n, subnet) || cidrContains(subnet, n))) continue;
    const claim = path.join(dir, slotName(subnet));
    if (await takeClaim(claim, runner)) return subnet;
  }
  throw new Error(`no /24 of qemu.egress_subnet ${pool} is free on this host`);
}

async function takeClaim(claim: string, runner: string): Promise<boolean> {
  const owner = path.join(claim, 'owner');
  const mine = `${runner} ${process.pid}\n`;
  try {
    await mkdir(claim);
    await writeFile(owner, mine);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const [who, pidS] = (await readFile(owner, 'utf8').catch(() => '')).trim().split(' ');
  if (!who) {
    const age = Date.now() - (await stat(claim).then((s) => s.mtimeMs).catch(() => Date.now()));
    if (age < CLAIM_WRITE_MS) return false;
  } else if (who !== runner && alive(Number(pidS))) {
    return false;
  }
  // Ours from an earlier process, or its owner is gone: take it over (rename is atomic; the loser re-reads).
  const tmp = `${owner}.${process.pid}`;
  await writeFile(tmp, mine);
  await rename(tmp, owner);
  return (await readFile(owner, 'utf8').catch(() => '')) === mine;
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function releaseSubnet(dir: string, subnet: string, runner: string): Promise<void> {
  const claim = path.join(dir, slotName(subnet));
  const who = (await readFile(path.join(claim, 'owner'), 'utf8').catch(() => '')).split(' ')[0];
  if (who === runner) await rm(claim, { recursive: true, force: true });
}
