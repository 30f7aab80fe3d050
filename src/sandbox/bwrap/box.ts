import { randomBytes } from 'node:crypto';
import type { Limits } from '../../config/schema.js';
import { PaddockError } from '../../errors.js';
import type { Logger } from '../../util/log.js';
import { within } from '../../util/within.js';
import { AgentClient } from '../agent/agent-client.js';
import { lineLogger } from '../agent-diagnostics.js';
import { bwrapArgs } from './args.js';
import type { CgroupV1 } from './cgroup.js';
import { agentLimits, buildChain } from './chain.js';
import { BwrapProcess, killMarked, SECCOMP_FD } from './process.js';
import type { Spawner } from './spawner.js';

/** How long a started sandbox's agent has to say HELLO. */
const HELLO_TIMEOUT_MS = 10_000;
/** How long a killed sandbox gets to be gone (its pid namespace torn down) before its uid is reused anyway. */
const EXIT_WAIT_MS = 5000;
export const MARKER = 'PADDOCK_SANDBOX';
/** The agent's runtime threads (6 idle) and its rlimit shims' (a Go runtime each, briefly), with room to spare. */
const AGENT_PIDS = 16;

export interface BoxHost {
  bwrap: string;
  etcDir: string;
  agentPath: string;
  seccompFile: string;
  spawner: Spawner;
  cgroup?: CgroupV1 | undefined;
  log: Logger;
}

export interface BoxSpec {
  limits: Limits;
  rootfs?: string | undefined;
  /** This sandbox's own host uid (the gid is the same), when Paddock is root. */
  uid?: number | undefined;
}

/** Who a box serves, for its log lines (a pooled one learns its sandbox when it is taken). */
export interface BoxContext {
  box: string;
  sandboxId?: string;
}

/**
 * A started bwrap sandbox whose agent said HELLO: the process, its cgroup (named by `id`),
 * and the session. `kill` ends every process of it; `exited` settles once they are gone.
 */
export class Box {
  /** Settles (never rejects) once the sandbox is gone: bwrap exited or the agent's session failed. */
  readonly gone: Promise<string>;
  /** Why Paddock killed it, once it did. */
  private killedBecause: string | undefined;

  constructor(
    readonly id: string,
    readonly spec: BoxSpec,
    readonly proc: BwrapProcess,
    readonly agent: AgentClient,
    readonly ctx: BoxContext,
    private readonly cgroup: CgroupV1 | undefined,
  ) {
    this.gone = Promise.race([proc.exited, agent.session.closed]).then(async () => {
      // Killed here (destroyed, or its agent did not answer): nothing to find out.
      if (this.killedBecause) return this.killedBecause;
      const lost = agent.session.error?.message ?? 'the agent is gone';
      // The pipes close as the processes die; give bwrap a moment to say how its child ended.
      const exit = await within(proc.exited, 1000, undefined);
      const oom = (cgroup?.stats(id).oomKills ?? 0) > 0 ? `, out of memory (limits.memory_mb ${spec.limits.memory_mb})` : '';
      if (!exit) return `${lost}${oom}`;
      // bwrap exits 128+N when its child, the agent, died of signal N: nothing inside can signal PID 1.
      const how = exit.signal
        ? `bwrap was killed (${exit.signal})`
        : exit.code !== null && exit.code > 128
          ? `the agent was killed by signal ${exit.code - 128} (from outside Paddock)`
          : `the agent exited with status ${exit.code}`;
      return `${how}${oom}; ${lost}`;
    });
  }

  /**
   * Kills PID 1 (the kernel then kills every process of its pid namespace) and bwrap, and closes
   * the session; the cgroup's own sweep follows in remove().
   */
  kill(because = 'Paddock killed the sandbox'): void {
    this.killedBecause ??= because;
    this.cgroup?.thaw(this.id);
    this.proc.kill();
    this.agent.close();
  }

  /** Kills the sandbox and waits until its processes are gone, then removes its cgroup. */
  async remove(): Promise<void> {
    this.kill();
    await within(this.proc.exited, EXIT_WAIT_MS, undefined);
    // PID 1's death tore the namespace down; what the cgroup still lists is killed again and waited out.
    this.cgroup?.destroy(this.id);
  }
}

/**
 * Starts one sandbox: bwrap → agent under the host uid,
 * its child held on the block fd until it is in its cgroup, then the agent's HELLO.
 * A start that fails is cleaned up here (nothing is left) and thrown as limit_too_small
 * when the sandbox's own limits are what is too small, else as driver_error.
 */
export async function startBox(host: BoxHost, spec: BoxSpec, label: string): Promise<Box> {
  const id = `${label}-${randomBytes(6).toString('hex')}`;
  const ctx: BoxContext = { box: id };
  const cgroup = host.cgroup;
  let cgroupError: Error | undefined;
  const args = bwrapArgs(spec.limits, {
    rootfs: spec.rootfs,
    etcDir: host.etcDir,
    agentPath: host.agentPath,
    statusFd: 3,
    blockFd: cgroup ? 4 : undefined,
    seccompFd: SECCOMP_FD,
    marker: { name: MARKER, value: id },
    agentArgs: [agentLimits(spec.limits)],
  });
  const chain = buildChain(args, {
    bwrap: host.bwrap,
    hostUser: spec.uid === undefined ? undefined : { uid: spec.uid, gid: spec.uid },
  });
  const diagnostics = lineLogger((line) => host.log.warn({ ...ctx, agent: line }, 'sandbox agent says'));
  const proc = new BwrapProcess({
    spawner: host.spawner,
    chain,
    // Nothing of the host's, and a marker by which a child bwrap orphaned before reporting it can be found.
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', [MARKER]: id },
    seccompFile: host.seccompFile,
    block: Boolean(cgroup),
    onChildPid: cgroup ? (pid) => cgroup.enter(id, pid) : undefined,
    onLostChild: () => killMarked(`${MARKER}=${id}`, chain.uid ?? process.getuid?.() ?? 0),
    onStderr: diagnostics,
  });
  // Made while bwrap starts up (on another core): nothing runs in the sandbox before it is entered (block fd).
  if (cgroup) {
    try {
      cgroup.create(id, {
        // Files the job keeps in its tmpfs dirs are memory too and count here, as in Docker.
        memoryBytes: spec.limits.memory_mb * 1024 * 1024,
        // Room for the agent's own threads beyond what its commands may use (RLIMIT_NPROC, chain.ts):
        // a fork bomb inside must not leave the agent unable to make a thread, which kills it.
        pids: spec.limits.pids + AGENT_PIDS,
        cpus: spec.limits.cpus,
      });
    } catch (err) {
      cgroupError = err as Error;
      proc.kill();
    }
  }
  try {
    const transport = await within(proc.transport, HELLO_TIMEOUT_MS, undefined);
    if (!transport) throw new Error(`bwrap did not connect its agent within ${HELLO_TIMEOUT_MS} ms`);
    const agent = await AgentClient.connect(transport, { helloTimeoutMs: HELLO_TIMEOUT_MS });
    return new Box(id, spec, proc, agent, ctx, cgroup);
  } catch (err) {
    proc.kill();
    const exit = await within(proc.exited, EXIT_WAIT_MS, undefined);
    const oom = cgroup?.stats(id).oomKilled ?? false;
    cgroup?.destroy(id);
    if (exit?.spawnError) throw new PaddockError('driver_error', `cannot start bwrap: ${exit.spawnError.message}`);
    if (cgroupError) throw new PaddockError('driver_error', `cannot set up the sandbox's cgroup: ${cgroupError.message}`);
    throw startFailure(proc, spec.limits, oom, (err as Error).message);
  }
}

/**
 * Why a sandbox did not start. Out of pids or memory (its cgroup), the agent's runtime cannot;
 * out of fds (EMFILE, errno 24; ld.so says "Error 24") only where the host's own limit is that
 * low. The first two are the job's limits being too small, not a broken driver.
 */
function startFailure(proc: BwrapProcess, limits: Limits, oom: boolean, lost: string): PaddockError {
  const stderr = proc.stderr.trim();
  const last = stderr.split('\n').at(-1) ?? '';
  const small = limitTooSmall(stderr, limits, 'start this sandbox') ?? (oom ? tooSmall('memory_mb', limits, 'start this sandbox', last || lost) : undefined);
  if (small) return small;
  return new PaddockError('driver_error', `the sandbox did not start: ${last || lost}${proc.started ? '' : ' (bwrap failed before the sandbox existed)'}`);
}

/**
 * The sandbox's own limits, named, when `text` (bwrap's or the agent's error) says they are what
 * ran out: fds (EMFILE; ld.so says "Error 24") or processes (EAGAIN from clone, the Go runtime's
 * "failed to create new OS thread"). Also for an agent that started but cannot start a command.
 */
export function limitTooSmall(text: string, limits: Limits, what: string): PaddockError | undefined {
  const last = text.trim().split('\n').at(-1) ?? '';
  if (/Too many open files|: Error 24$/im.test(text)) return tooSmall('open_files', limits, what, last);
  if (/failed to create new OS thread|resource temporarily unavailable|pthread_create failed/i.test(text)) return tooSmall('pids', limits, what, last);
  return undefined;
}

function tooSmall(field: 'open_files' | 'pids' | 'memory_mb', limits: Limits, what: string, why: string): PaddockError {
  return new PaddockError('limit_too_small', `limits.${field} = ${limits[field]} is too small for driver bwrap to ${what}: ${why}`, {
    field: `limits.${field}`,
    driver: 'bwrap',
  });
}
