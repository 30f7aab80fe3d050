import type { Limits } from '../config/schema.js';
import type { AgentClient } from './agent/agent-client.js';

/** Where a job's files and cwd live inside every sandbox, whatever the driver. */
export const WORK_DIR = '/work';

/** What every command sees before the job's or sandbox's own env is applied, whatever the driver. */
export const BASE_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin',
  HOME: WORK_DIR,
  USER: 'sandbox',
  LOGNAME: 'sandbox',
  TMPDIR: '/tmp',
  LANG: 'C.UTF-8',
};

export type NetworkMode = 'none' | 'egress';

/** What a driver can do; the scheduler filters and ranks drivers by this. */
export interface DriverCapabilities {
  /** Kind of boundary between the job and the host. */
  isolation: 'namespaces' | 'container' | 'gvisor' | 'microvm';
  /** Higher is stronger; `driver: auto` picks the strongest available that fits. */
  strength: number;
  network: readonly NetworkMode[];
  /** Why `egress` is not offered although the driver could (its firewall is missing or failed). */
  egressUnavailable?: string | undefined;
  /** Can run a job in a named image (rootfs). */
  images: boolean;
  /** Can keep a sandbox alive across several execs, also at once (interactive sandboxes). */
  persistent: boolean;
  /** Can freeze a sandbox and thaw it (`Sandbox.pause`/`resume`, cgroup freezer). */
  pause: boolean;
  /**
   * What a snapshot of a sandbox keeps, and so what a fork starts from: its files (`filesystem`:
   * src/sandboxes/snapshots.ts, through the agent, on any persistent driver) or also its memory
   * (`memory`, a microVM's); false: no snapshots.
   */
  snapshot: SnapshotKind | false;
  fork: SnapshotKind | false;
}

export type SnapshotKind = 'filesystem' | 'memory';

export interface DriverAvailability {
  available: boolean;
  /** Why not, in words a user can act on. */
  reason?: string;
  /** Facts found while probing (versions, modes), shown by `paddock doctor`. */
  details?: Record<string, string>;
}

export interface SandboxFile {
  /**
   * Relative to the work dir, or absolute under it. One exception, internal to Paddock:
   * `/tmp/.paddock/script` (a command's script too large for argv, src/jobs/kinds/command.ts);
   * drivers accept absolute paths under /tmp/.paddock/ (today only that one) and nothing else outside /work.
   */
  path: string;
  content: Buffer;
  mode?: number;
}

export interface SandboxSpec {
  /** Unique; drivers use it to label what they create so a reaper can find it. */
  id: string;
  image?: string | undefined;
  network: NetworkMode;
  /** With `egress`: IPv4 CIDRs and hostnames the job narrowed its egress to (resolved when the sandbox starts). */
  egressAllow?: string[] | undefined;
  limits: Limits;
  files: SandboxFile[];
}

/**
 * Limits of one exec, tighter than its sandbox's (a judge's test in a sandbox made for many);
 * the sandbox's own limits still bind. Each is optional: absent, the sandbox's applies.
 */
export interface ExecLimits {
  /** CPU time of the command and what it starts; past it the exec ends with limit `cpu`. */
  cpuMs?: number | undefined;
  /** Wall time from start; past it the process group is killed and the exec ends with limit `wall`. */
  wallMs?: number | undefined;
  /** Address space of each process (RLIMIT_AS), for languages that tolerate it (C, C++); KiB. */
  addressSpaceKb?: number | undefined;
  /** Processes and threads (RLIMIT_NPROC within the sandbox's own pids cap). */
  pids?: number | undefined;
  /** Bytes per stream kept; past it the exec ends with limit `output`. */
  outputBytes?: number | undefined;
  /** Largest file the command may write (RLIMIT_FSIZE); past it SIGXFSZ and limit `file_size`. */
  fileSizeBytes?: number | undefined;
  /** RLIMIT_STACK. */
  stackBytes?: number | undefined;
}

export interface ExecRequest {
  argv: string[];
  /** Absolute path inside the sandbox. */
  cwd: string;
  env: Record<string, string>;
  stdin?: Buffer | undefined;
  limits?: ExecLimits | undefined;
  /**
   * What is killed when the command's main process exits: nothing (default; background processes
   * keep running), its process group, or every process of the sandbox but the agent and other
   * execs (so a test leaves nothing behind for the next one, even what called setsid).
   */
  killOnExit?: 'group' | 'sandbox' | undefined;
}

/** Receives output as it is produced, already capped at the job's output limit. */
export interface OutputSink {
  (stream: 'stdout' | 'stderr', chunk: Buffer): void;
}

export interface ExecResult {
  exitCode: number | null;
  /** Signal name (e.g. SIGKILL) when the command died of one. */
  signal: string | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  wallMs: number;
  cpuMs: number | null;
  maxRssKb: number | null;
  /**
   * The command's own figures as the agent measured them (wait4 of it and the children it waited
   * for; wall from its start to its exit): per exec even when several run at once. Set by every
   * driver; the job cannot forge them beyond its own processes' real use.
   */
  proc?: { cpuMs: number; maxRssKb: number; wallMs: number } | undefined;
  /** Set when a limit ended the command, so the job can say which. */
  limit?: 'cpu' | 'memory' | 'output' | 'wall' | 'file_size' | undefined;
  /** Set when the exec was aborted from outside (timeout, cancel, shutdown). */
  aborted?: string | undefined;
}

/**
 * A created sandbox: its agent (docs/agent-protocol.md) runs any number of execs, also at once,
 * until `destroy`.
 */
export interface Sandbox {
  readonly id: string;
  exec(req: ExecRequest, sink: OutputSink, signal: AbortSignal): Promise<ExecResult>;
  /** The sandbox's agent: files, TCP forwarding and raw execs beyond `exec`. */
  readonly agent: AgentClient;
  /**
   * Settles with a reason once the sandbox is dead other than by `destroy` (its agent gone,
   * the container died, a protocol error); never rejects, stays pending after `destroy`.
   */
  readonly died: Promise<string>;
  /**
   * Freezes every process of the sandbox; `exec` then fails with `conflict` until `resume`.
   * Both throw `driver_unavailable` where the driver cannot (capabilities.pause is false).
   */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /**
   * Where capabilities.snapshot is `memory`: saves the running sandbox — memory, processes, files —
   * into `dir` (empty, made by the caller, the driver's to fill), from which `SandboxDriver.restore`
   * starts new sandboxes; the sandbox runs on.
   */
  snapshotMemory?(dir: string): Promise<void>;
  /** Idempotent; releases everything the sandbox holds. */
  destroy(): Promise<void>;
}

export interface SandboxDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  /**
   * The smallest limits a sandbox of this driver can start with (measured; see
   * the driver). A job asking for less is refused at submit with
   * `limit_too_small`, so a job's own limits never look like a broken driver.
   */
  readonly minLimits?: Partial<Limits>;
  /** Probes the host; cheap enough to call at start-up and from `paddock doctor`. */
  detect(): Promise<DriverAvailability>;
  /** Throws `image_not_found` (naming what exists) unless this driver can run `image`. */
  checkImage(image: string): Promise<void>;
  create(spec: SandboxSpec): Promise<Sandbox>;
  /** A new sandbox from a memory snapshot (`Sandbox.snapshotMemory`): it goes on from where that one was. */
  restore?(spec: SandboxSpec, dir: string): Promise<Sandbox>;
  /**
   * Removes what a crashed earlier process of this runner left behind (processes,
   * cgroups, dirs, containers). Called once at start-up, before any job runs.
   */
  reapOrphans(): Promise<number>;
  /** Prepares for jobs ahead of time (fills warm pools); called once the runner starts. */
  warm?(): void;
  /** Releases what the driver holds for itself (pools, parent cgroups) when the runner stops. */
  close(): Promise<void>;
}
