import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { type ExecRequest, type SandboxSpec, WORK_DIR } from '../driver.js';

export const SANDBOX_UID = 10001;

export interface BwrapLayout {
  /** Image rootfs to bind read-only as `/`; without one, host system dirs are bound read-only. */
  rootfs?: string | undefined;
  /** Directory with the synthesized passwd/group/hosts files. */
  etcDir: string;
  statusFd: number;
  blockFd?: number | undefined;
  /** The seccomp BPF program (src/sandbox/bwrap/seccomp.ts); bwrap reads and closes it. */
  seccompFd: number;
  /** One fd per spec.files entry, in order. */
  fileFds: number[];
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

/** The bwrap argv (without the bwrap binary) for one exec. Pure, so it is unit-tested. */
export function bwrapArgs(spec: SandboxSpec, req: ExecRequest, layout: BwrapLayout): string[] {
  const a: string[] = [
    '--unshare-all', // ipc, pid, net, uts, cgroup namespaces (user only "if possible"),
    '--unshare-user', // so make the user namespace mandatory,
    '--disable-userns', // and let no process inside create another one.
    '--die-with-parent',
    // The command is the namespace's pid 1, with no bwrap init above it: otherwise
    // bwrap's outer process exits without reaping that init, which then lingers as
    // a zombie of the host's pid 1 — holding its pids cgroup and RLIMIT_NPROC count
    // for as long as that init takes to reap (seconds on some hosts, forever in a
    // container without one). Orphans inside are reaped by the kernel at the end.
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

  if (layout.rootfs) {
    a.push('--ro-bind', layout.rootfs, '/');
  } else {
    for (const dir of HOST_SYSTEM_DIRS) {
      if (!existsSync(dir)) continue;
      // Merged-/usr hosts have /bin -> usr/bin; recreate the link rather than bind it.
      const stat = lstatSync(dir);
      if (stat.isSymbolicLink()) a.push('--symlink', readlinkSync(dir), dir);
      else a.push('--ro-bind', dir, dir);
    }
    for (const p of HOST_ETC) a.push('--ro-bind-try', p, p);
  }
  for (const f of SYNTHETIC_ETC) a.push('--ro-bind', path.join(layout.etcDir, f), `/etc/${f}`);

  const disk = String(spec.limits.disk_mb * 1024 * 1024);
  a.push('--proc', '/proc', '--dev', '/dev');
  a.push('--perms', '1777', '--size', disk, '--tmpfs', '/dev/shm');
  a.push('--perms', '1777', '--size', disk, '--tmpfs', '/tmp');
  a.push('--perms', '0755', '--size', disk, '--tmpfs', WORK_DIR);

  const dirs = new Set<string>();
  for (const file of spec.files) {
    const target = sandboxPath(file.path);
    const top = target.startsWith(`${INTERNAL_DIR}/`) ? '/tmp' : WORK_DIR;
    for (let d = path.dirname(target); d !== top && !dirs.has(d); d = path.dirname(d)) dirs.add(d);
  }
  for (const d of [...dirs].sort()) a.push('--dir', d);
  spec.files.forEach((file, i) => {
    const mode = (file.mode ?? 0o644).toString(8).padStart(4, '0');
    a.push('--perms', mode, '--file', String(layout.fileFds[i]), sandboxPath(file.path));
  });

  // Everything is set up; the root itself must not be writable by the job.
  a.push('--remount-ro', '/');
  a.push('--clearenv');
  for (const [k, v] of Object.entries(req.env)) a.push('--setenv', k, v);
  a.push('--chdir', req.cwd, '--', ...req.argv);
  return a;
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
