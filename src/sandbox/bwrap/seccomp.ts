import { execFile } from 'node:child_process';
import { rename, stat } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The seccomp filter every bwrap sandbox runs under (bwrap `--seccomp FD`): default
 * allow, and every call Docker's default profile refuses a container without extra
 * capabilities fails here too — with EPERM, as Docker answers (clone3 with ENOSYS, as
 * Docker does, so libc falls back to clone, whose flags can be checked). Most of these
 * already fail for lack of capabilities; the filter keeps the kernel code behind them
 * out of reach of a job altogether (keyrings, BPF, userfaultfd, perf, io_uring, …).
 * Allowed, as in Docker on kernels ≥ 4.8: ptrace, kcmp, process_vm_readv/writev (a job
 * sees only its own processes). The filter covers the x86 and x32 ABIs as well, so
 * `int 0x80` is no way around it.
 */
export const SECCOMP_POLICY = {
  eperm: [
    // Kernel keyrings, BPF, page-fault handling, perf, io_uring.
    'keyctl', 'add_key', 'request_key', 'bpf', 'userfaultfd', 'perf_event_open',
    'io_uring_setup', 'io_uring_enter', 'io_uring_register',
    // Kernel modules and kexec.
    'init_module', 'finit_module', 'delete_module', 'create_module', 'query_module', 'get_kernel_syms',
    'kexec_load', 'kexec_file_load',
    // File handles (open_by_handle_at is the classic container escape), fanotify.
    'open_by_handle_at', 'name_to_handle_at', 'fanotify_init', 'lookup_dcookie',
    // Mounts and namespaces.
    'mount', 'umount', 'umount2', 'pivot_root', 'move_mount', 'open_tree', 'fsopen', 'fsconfig', 'fsmount',
    'fspick', 'mount_setattr', 'setns',
    // Host administration: swap, reboot, clocks, accounting, quotas, kernel log, ttys.
    'swapon', 'swapoff', 'reboot', 'settimeofday', 'stime', 'clock_settime', 'clock_adjtime', 'acct',
    'quotactl', 'quotactl_fd', 'syslog', 'vhangup',
    // Port I/O and obsolete interfaces.
    'iopl', 'ioperm', 'vm86', 'vm86old', 'uselib', 'ustat', 'sysfs', '_sysctl', 'nfsservctl',
    // NUMA placement (CAP_SYS_NICE in Docker's profile).
    'get_mempolicy', 'set_mempolicy', 'set_mempolicy_home_node', 'mbind', 'migrate_pages', 'move_pages',
  ],
  enosys: ['clone3'],
  /** Fails when arg 0 has any of these bits: new namespaces (CLONE_NEWNS … CLONE_NEWNET; unshare also CLONE_NEWTIME). */
  flags: {
    clone: [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000],
    unshare: [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x80],
  },
  /**
   * personality(2) only with what Docker allows (PER_LINUX, PER_LINUX32, UNAME26): every flag
   * (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, …) is above 0x20008. libseccomp cannot compare one
   * argument twice in a rule, so the 0xffffffff query is refused as well.
   */
  above: { personality: 0x20008 },
} as const;

// libseccomp's own Python binding (Debian: python3-seccomp) compiles the policy to BPF.
const GENERATOR = `
import errno, json, sys
import seccomp
policy = json.loads(sys.argv[1])
f = seccomp.SyscallFilter(seccomp.ALLOW)
for arch in (seccomp.Arch.X86_64, seccomp.Arch.X86, seccomp.Arch.X32):
    try:
        f.add_arch(arch)
    except Exception:
        pass  # the native arch is already there; foreign hosts get only theirs
# A binary tree of syscall numbers instead of a list: the same rules, fewer BPF steps
# on every syscall a job makes (~0.2 ms less per echo job). libseccomp < 2.5 lacks it.
if sys.argv[3] == "tree":
    try:
        f.set_attr(seccomp.Attr.CTL_OPTIMIZE, 2)
    except Exception:
        pass
unknown = []
def rule(action, name, *args):
    try:
        f.add_rule(action, name, *args)
    except Exception:
        unknown.append(name)
for name in policy["eperm"]:
    rule(seccomp.ERRNO(errno.EPERM), name)
for name in policy["enosys"]:
    rule(seccomp.ERRNO(errno.ENOSYS), name)
for name, bits in policy["flags"].items():
    for bit in bits:
        rule(seccomp.ERRNO(errno.EPERM), name, seccomp.Arg(0, seccomp.MASKED_EQ, bit, bit))
for name, limit in policy["above"].items():
    rule(seccomp.ERRNO(errno.EPERM), name, seccomp.Arg(0, seccomp.GT, limit))
with open(sys.argv[2], "wb") as out:
    f.export_bpf(out)
print(json.dumps(sorted(set(unknown))))
`;

export const SECCOMP_PYTHON = '/usr/bin/python3';

export interface SeccompFilter {
  /** The BPF program bwrap reads from `--seccomp FD`. */
  file: string;
  /** Names this libseccomp does not know (newer than it): those calls are not filtered. */
  unknown: string[];
}

/**
 * Compiles the policy into `file` (atomically); throws with an actionable message when it cannot.
 * `layout: 'list'` is libseccomp's default program, for the test that the tree decides alike.
 */
export async function buildSeccompFilter(file: string, layout: 'tree' | 'list' = 'tree'): Promise<SeccompFilter> {
  const tmp = `${file}.${process.pid}.tmp`;
  let stdout: string;
  try {
    ({ stdout } = await run(SECCOMP_PYTHON, ['-I', '-c', GENERATOR, JSON.stringify(SECCOMP_POLICY), tmp, layout], {
      env: { PATH: '/usr/bin:/bin' },
      timeout: 20_000,
    }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    const why = e.code === 'ENOENT' ? `${SECCOMP_PYTHON} not found` : (e.stderr ?? '').trim().split('\n').at(-1) || e.message;
    throw new Error(`cannot build the seccomp filter (${why}); apt-get install python3-seccomp`);
  }
  if ((await stat(tmp)).size === 0) throw new Error('cannot build the seccomp filter: libseccomp wrote an empty program');
  await rename(tmp, file);
  return { file, unknown: JSON.parse(stdout.trim().split('\n').at(-1) ?? '[]') as string[] };
}
