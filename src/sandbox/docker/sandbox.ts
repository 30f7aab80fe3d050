import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import type Dockerode from 'dockerode';
import { PaddockError } from '../../errors.js';
import { type ExecRequest, type ExecResult, type OutputSink, type Sandbox, type SandboxSpec, WORK_DIR } from '../driver.js';
import { OutputCapture } from '../output.js';
import { signalOfExitCode } from '../signals.js';
import { tarFiles } from '../tar.js';
import { containerCgroupStats } from './cgroup-stats.js';
import { demuxer } from './demux.js';
import type { Box } from './containers.js';
import { startFailure } from './failures.js';
import { jobHeader } from './launch.js';
import { TrailerScanner } from './trailer.js';

const CPU_POLL_MS = 100;
/** The launcher's own exit status when it cannot hand the job over (header, input files; launch.ts). */
const LAUNCHER_FAILED = 125;
/** Files Paddock itself hands a job (e.g. a script too long for argv) go here, not under /work. */
export const INTERNAL_DIR = '/tmp/.paddock';

/**
 * Archive member names, relative to `/` where the launcher unpacks: the job's
 * files under work/, Paddock's own under tmp/.paddock/. Nothing else can be written.
 */
export function archiveMembers(files: SandboxSpec['files']): SandboxSpec['files'] {
  return files.map((f) => {
    const abs = path.posix.resolve(WORK_DIR, f.path);
    const inside = [WORK_DIR, INTERNAL_DIR].find((dir) => abs.startsWith(`${dir}/`));
    if (!inside) throw new PaddockError('validation_failed', `file path ${JSON.stringify(f.path)} is outside ${WORK_DIR}`);
    return { ...f, path: abs.slice(1) };
  });
}

/** The Engine's exit status of a container, which must be a shell status (0–255). */
function engineExitCode(code: number | undefined | null): number | null {
  if (code === undefined || code === null) return null;
  if (!Number.isInteger(code) || code < 0 || code > 255) {
    throw new PaddockError('driver_error', `Docker Engine reported an impossible exit status ${code}`);
  }
  return code;
}

/** A started container whose launcher waits for one job on its stdin; removed after that job. */
export class DockerSandbox implements Sandbox {
  private used = false;
  private destroyed = false;

  private readonly container: Dockerode.Container;

  constructor(
    readonly id: string,
    private readonly box: Box,
    private readonly spec: SandboxSpec,
    private readonly remove: () => Promise<void>,
    private readonly docker: Dockerode,
    /** The limits the driver's probe started a container with (see failures.ts). */
    private readonly defaults: SandboxSpec['limits'],
  ) {
    this.container = box.container;
  }

  async exec(req: ExecRequest, sink: OutputSink, signal: AbortSignal): Promise<ExecResult> {
    if (this.destroyed) throw new PaddockError('driver_error', `sandbox ${this.id} is destroyed`);
    if (this.used) throw new PaddockError('driver_error', 'a container sandbox runs one job');
    this.used = true;
    const started = performance.now();
    const files = archiveMembers(this.spec.files);
    const archive = files.length ? tarFiles(files, this.box.uid, ['work', 'tmp']) : Buffer.alloc(0);
    const cpuBefore = containerCgroupStats(this.container.id).cpuNs ?? 0;
    let lastStats = containerCgroupStats(this.container.id);

    const stdout = new OutputCapture(this.spec.limits.output_bytes);
    const stderr = new OutputCapture(this.spec.limits.output_bytes);
    let aborted: string | undefined;
    let limit: ExecResult['limit'];
    const kill = (reason: string) => {
      if (aborted) return;
      aborted = reason;
      this.container.kill({ signal: 'SIGKILL' }).catch(() => undefined);
    };
    const onAbort = () => kill(String(signal.reason ?? 'aborted'));

    let exitCode: number | null;
    let launcherDone = false;
    let watchdog: NodeJS.Timeout | undefined;
    let stoppedOutside: string | undefined;
    let events: NodeJS.ReadableStream | undefined;
    try {
      // The launcher is blocked reading stdin, so nothing is printed before we attach.
      // Alongside: a kill that Paddock did not send (dockerd shutting down, `docker
      // stop`) is the driver's failure, not the job's.
      const [stream, kills] = await Promise.all([
        this.container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true }) as Promise<Duplex>,
        this.docker.getEvents({ filters: { container: [this.container.id], event: ['kill'] } }) as Promise<NodeJS.ReadableStream>,
      ]);
      events = kills;
      events.on('data', (b: Buffer) => {
        if (aborted) return;
        const sig = /"signal":"(\d+)"/.exec(b.toString())?.[1] ?? '?';
        stoppedOutside ??= `the container got signal ${sig} from outside Paddock`;
      });
      events.on('error', () => undefined);
      const waited = this.container.wait();
      waited.catch(() => undefined); // not awaited when the trailer arrives first
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      watchdog = setInterval(() => {
        const stats = containerCgroupStats(this.container.id);
        if (stats.cpuNs !== null) lastStats = stats;
        if (stats.cpuNs !== null && (stats.cpuNs - cpuBefore) / 1e6 >= this.spec.limits.cpu_ms) {
          limit = 'cpu';
          kill('cpu_limit');
        }
      }, CPU_POLL_MS);

      const deliver = (name: 'stdout' | 'stderr', payload: Buffer) => {
        const capture = name === 'stdout' ? stdout : stderr;
        const kept = capture.push(payload);
        if (kept.length) sink(name, kept);
        // The attach stream cannot be half-closed per stream: past the cap the sandbox is stopped.
        if (capture.truncated && !aborted) {
          limit = 'output';
          kill('output_limit');
        }
      };
      // Only the dropping launcher's trailer is trusted (the job cannot learn its mark, see
      // launch.ts); with the plain one, the end of the job is the container's exit alone.
      const trusted = this.box.launcher === 'dropping';
      const mark = trusted ? `#paddock-exit:${randomBytes(12).toString('hex')}` : '';
      const trailers = trusted
        ? {
            stdout: new TrailerScanner(mark, (b) => deliver('stdout', b)),
            stderr: new TrailerScanner(mark, (b) => deliver('stderr', b)),
          }
        : undefined;
      const bothTrailers = () => trailers?.stdout.code !== undefined && trailers?.stderr.code !== undefined;
      const done = new Promise<void>((resolve, reject) => {
        const push = demuxer((name, payload) => {
          if (!trailers) return deliver(name, payload);
          trailers[name].push(payload);
          if (bothTrailers()) resolve();
        });
        stream.on('data', push);
        stream.once('end', resolve);
        stream.once('close', resolve);
        stream.once('error', reject);
        // Docker never ends the attach stream of a container that was already dead
        // (runsc dying at start under a small pids limit): its exit ends the job too.
        waited.then(() => setTimeout(resolve, 500), () => undefined);
      });
      const header = jobHeader({ tarBytes: archive.length, cwd: req.cwd, mark, env: req.env, argv: req.argv });
      stream.write(Buffer.concat([Buffer.from(header), archive, req.stdin ?? Buffer.alloc(0)]));
      stream.end();
      await done;
      if (bothTrailers()) {
        // The command is done and its output is all here; the container is still up,
        // so its cgroup still answers. Its exit is not waited for.
        stream.destroy();
        launcherDone = true;
        exitCode = trailers!.stdout.code!;
        const final = containerCgroupStats(this.container.id);
        if (final.cpuNs !== null) lastStats = final;
        if ((final.oomKills ?? 0) > 0) limit = 'memory';
      } else {
        stream.destroy();
        launcherDone = trailers?.stdout.code !== undefined || trailers?.stderr.code !== undefined;
        trailers?.stdout.flush();
        trailers?.stderr.flush();
        exitCode = engineExitCode((await waited).StatusCode);
        const state = await this.container.inspect().then((i) => i.State, () => undefined);
        if (state?.OOMKilled) limit = 'memory';
      }
    } catch (err) {
      throw new PaddockError('driver_error', `Docker Engine failed during the job: ${(err as Error).message}`, undefined, {
        cause: err,
      });
    } finally {
      (events as { destroy?: () => void } | undefined)?.destroy?.();
      clearInterval(watchdog);
      signal.removeEventListener('abort', onAbort);
    }

    if (stoppedOutside) throw new PaddockError('driver_error', `Docker Engine stopped the job: ${stoppedOutside}`);
    if (this.box.launcher === 'dropping' && !launcherDone && !aborted && !limit && exitCode !== LAUNCHER_FAILED) {
      // Nothing the job can do stops this launcher from reporting (it is another user):
      // the sandbox itself ended under it (gVisor's sentry dies when limits.pids is below its threads).
      throw startFailure(`the sandbox ended (exit status ${exitCode}) before the command could be run or report`, this.spec.limits, this.defaults);
    }
    // Once the container has exited its cgroup is gone: then the last sample counts.
    const stats = lastStats;
    const signalName = signalOfExitCode(exitCode);
    if (signalName === 'SIGXCPU') limit = 'cpu';
    const selfInflicted = aborted === 'cpu_limit' || aborted === 'output_limit';
    return {
      exitCode,
      signal: signalName,
      stdout: stdout.text(),
      stderr: stderr.text(),
      stdoutTruncated: stdout.truncated,
      stderrTruncated: stderr.truncated,
      wallMs: Math.round(performance.now() - started),
      cpuMs: stats.cpuNs === null ? null : Math.round((stats.cpuNs - cpuBefore) / 1e6),
      maxRssKb: stats.maxMemBytes === null ? null : Math.round(stats.maxMemBytes / 1024),
      limit,
      aborted: selfInflicted ? undefined : aborted,
    };
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.remove();
  }
}
