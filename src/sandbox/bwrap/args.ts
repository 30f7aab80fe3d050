import { existsSync, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import type { Limits } from '../../config/schema.js';
import { AGENT_IN_SANDBOX } from '../agent-binary.js';
import { WORK_DIR } from '../driver.js';

export const SANDBOX_UID = 10001;

export interface BwrapLayout {
  /** Image rootfs whose top-level entries are bound read-only; without one, host system dirs are. */
  rootfs?: string | undefined;
  /** Directory with the synthesized passwd/group/hosts files. */
  etcDir: string;
  /** Host path of the agent binary, bound read-only at AGENT_IN_SANDBOX. */
  agentPath: string;
  statusFd: number;
  blockFd?: number | undefined;
  /** The seccomp BPF program (src/sandbox/bwrap/seccomp.ts); bwrap reads and closes it. */
  seccompFd: number;
  /** Set in the agent's environment (which nothing it starts inherits), to find the sandbox's processes. */
  marker: { name: string; value: string };
  /** The agent's own arguments (chain.ts agentLimits). */
  agentArgs?: string[] | undefined;
}

// Host paths a default (image-less) sandbox sees, read-only. Nothing from /home,
// /root, /var or most of /etc: a job sees system binaries and libraries only.
const HOST_SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
const HOST_ETC = [
  '/etc/alternatives',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/ssl',
  '/etc/ca-certificates',
  '/etc/localtime',
  '/etc/nsswitch.conf',
  '/etc/mime.types',
];
const SYNTHETIC_ETC = ['passwd', 'group', 'hosts', 'hostname'];
/** What bwrap makes itself in every sandbox, so an image's own entries there are not bound. */
const MANAGED = new Set(['proc', 'dev', 'tmp', 'work', '.paddock']);

/**
 * The bwrap argv (without the bwrap binary) of one sandbox, whose only process at first is
 * the agent as PID 1. Pure but for reading the rootfs's top level, so it is unit-tested.
 */
export function bwrapArgs(limits: Pick<Limits, 'disk_mb'>, layout: BwrapLayout): string[] {
  const a: string[] = [
    '--unshare-all', // ipc, pid, net, uts, cgroup namespaces (user only "if possible"),
    '--unshare-user', // so make the user namespace mandatory,
    '--disable-userns', // and let no process inside create another one.
    '--die-with-parent',
    // The agent is the namespace's pid 1, with no bwrap init above it: nothing inside can
    // signal it, it reaps every process of the sandbox, and its death ends them all.
    '--as-pid-1',
    '--new-session',
    '--cap-drop', 'ALL',
    '--uid', String(SANDBOX_UID),
    '--gid', String(SANDBOX_UID),
    '--hostname', 'sandbox',
    '--json-status-fd', String(layout.statusFd),
    '--seccomp', String(layout.seccompFd),
  ];
  if (layout.blockFd !== undefined) a.push('--block-fd', String(layout.blockFd));
  // The root is bwrap's own tmpfs (read-only at the end), so the agent's mount point can be
  // made in it; an image's top level is bound entry by entry, as the host's system dirs are.
  const entries = layout.rootfs ? rootfsEntries(layout.rootfs) : HOST_SYSTEM_DIRS.filter((d) => existsSync(d));
  for (const src of entries) {
    const dest = layout.rootfs ? `/${path.basename(src)}` : src;
    // Merged-/usr hosts and images have /bin -> usr/bin; recreate the link rather than bind it.
    if (lstatSync(src).isSymbolicLink()) a.push('--symlink', readlinkSync(src), dest);
    else a.push('--ro-bind', src, dest);
  }
  if (!layout.rootfs) for (const p of HOST_ETC) a.push('--ro-bind-try', p, p);
  for (const f of SYNTHETIC_ETC) a.push('--ro-bind', path.join(layout.etcDir, f), `/etc/${f}`);
  a.push('--ro-bind', layout.agentPath, AGENT_IN_SANDBOX);
  const disk = String(limits.disk_mb * 1024 * 1024);
  a.push('--proc', '/proc', '--dev', '/dev');
  a.push('--perms', '1777', '--size', disk, '--tmpfs', '/dev/shm');
  a.push('--perms', '1777', '--size', disk, '--tmpfs', '/tmp');
  a.push('--perms', '0755', '--size', disk, '--tmpfs', WORK_DIR);
  // Everything is set up; the root itself must not be writable by the job.
  a.push('--remount-ro', '/');
  a.push('--clearenv', '--setenv', layout.marker.name, layout.marker.value);
  a.push('--chdir', WORK_DIR, '--', AGENT_IN_SANDBOX, ...(layout.agentArgs ?? []));
  return a;
}

/** The image rootfs's top-level entries (host paths), but for what bwrap makes itself. */
function rootfsEntries(rootfs: string): string[] {
  return readdirSync(rootfs)
    .filter((name) => !MANAGED.has(name))
    .sort()
    .map((name) => path.join(rootfs, name));
}

/** Paddock's own files in a sandbox (a script too large for argv); see SandboxFile. */
export const INTERNAL_DIR = '/tmp/.paddock';

/** A SandboxFile's path in the sandbox: under the work dir, or Paddock's internal dir. */
export function sandboxPath(p: string): string {
  if (p.startsWith(`${INTERNAL_DIR}/`)) {
    const resolved = path.posix.resolve(p);
    if (resolved.startsWith(`${INTERNAL_DIR}/`)) return resolved;
  }
  return workPath(p);
}

/** Resolves a job file path to an absolute path under the work dir. */
export function workPath(p: string): string {
  const resolved = path.posix.resolve(WORK_DIR, p);
  if (resolved !== WORK_DIR && resolved.startsWith(`${WORK_DIR}/`)) return resolved;
  throw new Error(`path ${p} is outside ${WORK_DIR}`);
}
