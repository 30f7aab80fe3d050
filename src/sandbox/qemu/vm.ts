import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { PaddockError } from '../../errors.js';
import type { AgentClient } from '../agent/agent-client.js';
import type { BootFiles } from './boot-files.js';
import { GUEST_NET } from './network.js';
import { Qmp } from './qmp.js';
import { connectSerial } from './serial.js';

export type Accel = 'kvm' | 'tcg';

/** Everything that decides a VM's command line. A restore must use the very same one (QEMU checks only -m). */
export interface VmPlan {
  /** The VM's own dir: overlay, sockets, pid file (the reaper finds VMs by it). */
  dir: string;
  boot: BootFiles;
  disk: string;
  memoryMb: number;
  cpus: number;
  accel: Accel;
  /** Arguments for the agent as init (after the kernel's `--`). */
  agentArgs: string[];
  /** A virtio-net NIC on the TAP of the VM's namespace (network.ts GUEST_NET); `egress` only. */
  nic?: boolean | undefined;
  /** A migration stream to start from (`-incoming`), instead of booting. */
  incoming?: string | undefined;
}

export const AGENT_SOCKET = 'agent.sock';
export const QMP_SOCKET = 'qmp.sock';
export const PID_FILE = 'qemu.pid';
/** Bytes of console and QEMU stderr kept, for a VM that dies (its panic, its last words). */
const CONSOLE_TAIL = 16 * 1024;

/**
 * The host's TSC rate in kHz, given to the guest kernel: without it, calibrating the TSC under TCG
 * hung 2 boots of 16 (issue 13's measurements).
 */
export function tscKhz(): number | undefined {
  try {
    const m = /cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? Math.round(Number(m[1]) * 1000) : undefined;
  } catch {
    return undefined;
  }
}

export function qemuArgs(p: VmPlan): string[] {
  const khz = tscKhz();
  // panic_on_unrecovered_nmi: an NMI from the host (QMP inject-nmi) panics the guest, so a hung
  // guest can be crashed on purpose and its console says why.
  const append = ['console=ttyS0', 'quiet', 'panic=-1', 'sysctl.kernel.panic_on_unrecovered_nmi=1',
    ...(khz ? [`tsc_early_khz=${khz}`] : []), '--', ...p.agentArgs].join(' ');
  return [
    '-M', 'microvm,acpi=on',
    '-accel', p.accel,
    ...(p.accel === 'kvm' ? ['-cpu', 'host'] : []),
    '-m', String(p.memoryMb),
    '-smp', String(p.cpus),
    '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
    '-serial', 'stdio',
    '-kernel', p.boot.vmlinux,
    '-initrd', p.boot.initramfs,
    '-append', append,
    '-drive', `id=root,file=${p.disk},format=qcow2,if=none,cache=unsafe`,
    '-device', 'virtio-blk-device,drive=root',
    '-device', 'virtio-serial-device',
    '-chardev', `socket,id=agent,path=${path.join(p.dir, AGENT_SOCKET)},server=on,wait=off`,
    '-device', 'virtserialport,chardev=agent,name=paddock',
    '-object', 'rng-random,id=rng0,filename=/dev/urandom',
    '-device', 'virtio-rng-device,rng=rng0',
    ...(p.nic
      ? ['-netdev', `tap,id=net0,ifname=${GUEST_NET.tap},script=no,downscript=no`, '-device', `virtio-net-device,netdev=net0,mac=${GUEST_NET.guestMac}`]
      : []),
    '-qmp', `unix:${path.join(p.dir, QMP_SOCKET)},server=on,wait=off`,
    ...(p.incoming ? ['-incoming', p.incoming] : []),
  ];
}

/**
 * One QEMU process. It dies with Paddock (PR_SET_PDEATHSIG through setpriv), so a kill -9 of the
 * runner leaves files behind but no VM; the driver's reaper removes the files.
 */
export class QemuVm {
  readonly exited: Promise<string>;
  private tail = '';
  private dead: string | undefined;
  qmp: Qmp | undefined;

  private constructor(
    readonly plan: VmPlan,
    private readonly child: ChildProcess,
  ) {
    const keep = (c: Buffer) => {
      this.tail = (this.tail + c.toString('utf8')).slice(-CONSOLE_TAIL);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => resolve((this.dead = `QEMU could not start: ${err.message}`)));
      child.once('close', (code, signal) => {
        this.dead = `the VM ended (QEMU ${signal ? `killed by ${signal}` : `exited ${code}`})${this.consoleSummary()}`;
        this.qmp?.close();
        resolve(this.dead);
      });
    });
  }

  /** With `netns`, QEMU runs in that network namespace (its TAP is there). */
  static async start(plan: VmPlan, qemu = 'qemu-system-x86_64', netns?: string): Promise<QemuVm> {
    const cmd = ['setpriv', '--pdeathsig', 'KILL', '--', qemu, ...qemuArgs(plan)];
    // `ip netns exec` enters the namespace and execs in place: the pid (and the death signal) stay QEMU's.
    const argv = netns ? ['ip', 'netns', 'exec', netns, ...cmd] : cmd;
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: plan.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    const vm = new QemuVm(plan, child);
    if (child.pid) await writeFile(path.join(plan.dir, PID_FILE), `${child.pid}\n`);
    try {
      vm.qmp = await Promise.race([Qmp.connect(path.join(plan.dir, QMP_SOCKET)), vm.exited.then((why) => Promise.reject(new PaddockError('driver_error', why)))]);
    } catch (err) {
      vm.kill();
      throw err;
    }
    return vm;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get isDead(): boolean {
    return this.dead !== undefined;
  }

  /** The console's last lines, for a report: a panic's message is what a user needs. */
  consoleSummary(): string {
    const lines = this.tail.replace(/\r/g, '').split('\n').filter((l) => l.trim());
    // A panic's own line and the agent's last words come before pages of stack trace.
    const key = lines.filter((l) => /Kernel panic|Out of memory|paddock-agent:|qemu-system/.test(l)).slice(-4);
    const last = lines.slice(-4).filter((l) => !key.includes(l));
    const shown = [...key, ...last].map((l) => l.slice(0, 300));
    return shown.length ? `; console: ${shown.join(' | ')}` : '';
  }

  get console(): string {
    return this.tail;
  }

  /** A new connection to the guest's agent (serial.ts). */
  connectAgent(timeoutMs: number): Promise<{ agent: AgentClient; socket: net.Socket }> {
    return connectSerial(path.join(this.plan.dir, AGENT_SOCKET), timeoutMs, this.exited, { resend: Boolean(this.plan.incoming) });
  }

  kill(): void {
    if (!this.dead) this.child.kill('SIGKILL');
  }
}
