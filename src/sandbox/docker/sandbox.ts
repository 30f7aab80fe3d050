import { constants as osConstants } from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import type Dockerode from 'dockerode';
import { PaddockError } from '../../errors.js';
import { type ExecRequest, type ExecResult, type OutputSink, type Sandbox, type SandboxSpec, WORK_DIR } from '../driver.js';
import { OutputCapture } from '../output.js';
import { tarFiles } from '../tar.js';
import { containerCgroupStats } from './cgroup-stats.js';
import { SANDBOX_USER } from './container-spec.js';
import { demuxer } from './demux.js';

const CPU_POLL_MS = 100;

// Unpacks the job's files (a tar of $1 bytes at the head of stdin) into the work
// dir, then becomes the command; the rest of stdin is the command's own.
const LAUNCH =
  'if [ "$1" -gt 0 ]; then head -c "$1" | tar -x -C ' +
  WORK_DIR +
  ' -f - || { echo "paddock: unpacking input files failed" >&2; exit 125; }; fi; cd "$2" || exit 125; shift 2; exec "$@"';

/** A started container; one job runs in it through one exec, then it is removed. */
export class DockerSandbox implements Sandbox {
  private used = false;
  private destroyed = false;

  constructor(
    readonly id: string,
    private readonly container: Dockerode.Container,
    private readonly spec: SandboxSpec,
    private readonly remove: () => Promise<void>,
  ) {}

  async exec(req: ExecRequest, sink: OutputSink, signal: AbortSignal): Promise<ExecResult> {
    if (this.destroyed) throw new PaddockError('driver_error', `sandbox ${this.id} is destroyed`);
    if (this.used) throw new PaddockError('driver_error', 'a container sandbox runs one job');
    this.used = true;
    const started = performance.now();
    const files = this.spec.files.map((f) => ({ ...f, path: path.posix.relative(WORK_DIR, path.posix.resolve(WORK_DIR, f.path)) }));
    const archive = files.length ? tarFiles(files) : Buffer.alloc(0);
    const cpuBefore = containerCgroupStats(this.container.id).cpuNs ?? 0;

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
    let watchdog: NodeJS.Timeout | undefined;
    try {
      const exec = await this.container.exec({
        Cmd: ['/bin/sh', '-c', LAUNCH, 'paddock', String(archive.length), req.cwd, ...req.argv],
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        User: SANDBOX_USER,
        WorkingDir: WORK_DIR,
        Env: Object.entries(req.env).map(([k, v]) => `${k}=${v}`),
      });
      const stream = (await exec.start({ hijack: true, stdin: true })) as Duplex;
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      watchdog = setInterval(() => {
        const { cpuNs } = containerCgroupStats(this.container.id);
        if (cpuNs !== null && (cpuNs - cpuBefore) / 1e6 >= this.spec.limits.cpu_ms) {
          limit = 'cpu';
          kill('cpu_limit');
        }
      }, CPU_POLL_MS);

      const push = demuxer((name, payload) => {
        const capture = name === 'stdout' ? stdout : stderr;
        const kept = capture.push(payload);
        if (kept.length) sink(name, kept);
        // One exec cannot be half-closed: past the cap the sandbox is stopped.
        if (capture.truncated && !aborted) {
          limit = 'output';
          kill('output_limit');
        }
      });
      const ended = new Promise<void>((resolve, reject) => {
        stream.on('data', push);
        stream.once('end', resolve);
        stream.once('close', resolve);
        stream.once('error', reject);
      });
      stream.write(Buffer.concat([archive, req.stdin ?? Buffer.alloc(0)]));
      stream.end();
      await ended;
      exitCode = (await exec.inspect()).ExitCode ?? null;
    } catch (err) {
      throw new PaddockError('driver_error', `Docker Engine failed during the job: ${(err as Error).message}`, undefined, {
        cause: err,
      });
    } finally {
      clearInterval(watchdog);
      signal.removeEventListener('abort', onAbort);
    }

    const state = await this.container.inspect().then((i) => i.State, () => undefined);
    const stats = containerCgroupStats(this.container.id);
    if (state?.OOMKilled) limit = 'memory';
    const sigNum = exitCode !== null && exitCode > 128 && exitCode < 160 ? exitCode - 128 : 0;
    const signalName = sigNum ? (Object.entries(osConstants.signals).find(([, v]) => v === sigNum)?.[0] ?? null) : null;
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
