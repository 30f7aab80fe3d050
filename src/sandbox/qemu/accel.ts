import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import type { BootFiles } from './boot-files.js';
import type { Accel } from './vm.js';

/** A kernel under working KVM reaches its panic in well under a second; a hung one never does. */
const PROBE_MS = 8000;

export interface AccelChoice {
  accel: Accel;
  /** Why, for `paddock doctor`. */
  why: string;
}

/**
 * KVM when a probe boot under it works, else TCG. /dev/kvm alone proves nothing: on a nested
 * hypervisor `-cpu host` aborts and the default CPU hangs the guest kernel. The probe boots the
 * guest kernel with an init that does not exist, so it panics at once (and QEMU exits, -no-reboot);
 * reaching the panic is the proof. Cached in `cacheFile` per QEMU, kernel and host kernel.
 */
export async function chooseAccel(opts: { qemu: string; qemuVersion: string; boot: BootFiles; cacheFile: string }): Promise<AccelChoice> {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return { accel: 'tcg', why: 'no usable /dev/kvm' };
  }
  const key = JSON.stringify({ qemu: opts.qemuVersion, kernel: opts.boot.hash, host: os.release() });
  try {
    const cached = JSON.parse(readFileSync(opts.cacheFile, 'utf8')) as { key: string; choice: AccelChoice };
    if (cached.key === key) return cached.choice;
  } catch {
    // no cache yet
  }
  const works = await probe(opts.qemu, opts.boot);
  const choice: AccelChoice = works.ok
    ? { accel: 'kvm', why: 'a probe boot under KVM worked' }
    : { accel: 'tcg', why: `/dev/kvm is there but a probe boot under it failed (${works.why})` };
  await writeFile(opts.cacheFile, JSON.stringify({ key, choice })).catch(() => undefined);
  return choice;
}

function probe(qemu: string, boot: BootFiles): Promise<{ ok: boolean; why: string }> {
  return new Promise((resolve) => {
    const args = ['-M', 'microvm,acpi=on', '-accel', 'kvm', '-cpu', 'host', '-m', '128', '-smp', '1', '-nodefaults', '-no-user-config',
      '-nographic', '-no-reboot', '-serial', 'stdio', '-kernel', boot.vmlinux, '-initrd', boot.initramfs,
      '-append', 'console=ttyS0 panic=-1 rdinit=/paddock-accel-probe'];
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', qemu, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (c: Buffer) => (out = (out + c.toString()).slice(-8192));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), PROBE_MS);
    child.on('error', (err) => resolve({ ok: false, why: err.message }));
    child.on('close', () => {
      clearTimeout(timer);
      if (/Kernel panic/.test(out)) resolve({ ok: true, why: 'panicked as asked' });
      else resolve({ ok: false, why: out.trim().split('\n').at(-1)?.slice(0, 200) || `no kernel output within ${PROBE_MS} ms` });
    });
  });
}

export function readQemuVersion(text: string): string {
  return /version ([\d.]+)/.exec(text)?.[1] ?? text.trim().split('\n')[0] ?? 'unknown';
}
