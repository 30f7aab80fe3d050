import { finished, type Writable } from 'node:stream';
import { ChannelReadable, ChannelWritable } from './channel-streams.js';
import type { OpStream } from './op-stream.js';
import {
  Channel,
  EXEC_SIGNALS,
  type ExecSignal,
  type InboundChannel,
  MAX_RLIMIT,
  MAX_WALL_MS,
  RLIMIT_NAMES,
  type RlimitName,
} from './protocol.js';
import { checkInt, checkPath, checkString, invalid } from './requests.js';
import type { AgentSession } from './session.js';

export interface ExecRequest {
  argv: string[];
  /** Exactly the process's environment. */
  env: Record<string, string>;
  cwd: string;
  /** Feed stdin through the handle's `stdin`; without it stdin is /dev/null. */
  stdin?: boolean;
  pty?: { rows: number; cols: number };
  /** Set on the child before it execs (cpu in seconds; fsize, as, core, stack in bytes). */
  rlimits?: Partial<Record<RlimitName, number>>;
  /** The agent kills the process group this many ms after the start (RESULT `killed: 'wall'`). */
  wallMs?: number | undefined;
  /** Killed, and reaped before the result, when the process exits: its group, or all the sandbox but other execs. */
  killOnExit?: 'group' | 'sandbox' | undefined;
}

/** Where output goes: callbacks, or Writables (never ended by exec; a failing one is dropped). */
export interface ExecOutput {
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  stdout?: Writable;
  stderr?: Writable;
}

export interface ExecResult {
  exitCode: number | null;
  signal: string | null;
  wallMs: number;
  cpuMs: number;
  maxRssKb: number;
  /** Set when the agent killed it: at `wallMs`, or on cancel. */
  killed: 'wall' | 'cancel' | null;
}

export interface ExecHandle {
  /** The process runs (its pid inside the sandbox). */
  readonly started: Promise<{ pid: number }>;
  /** Settles after RESULT and after all output reached the consumer (a Writable may still be writing it: end it and wait). */
  readonly result: Promise<ExecResult>;
  /** With `stdin: true`; end() closes the process's stdin. */
  readonly stdin: Writable | null;
  control(signal: ExecSignal): void;
  resize(rows: number, cols: number): void;
  /** Kills the process group; `result` still settles with the agent's answer. */
  cancel(): void;
}

function checkRequest(req: ExecRequest): Record<string, unknown> {
  if (!Array.isArray(req.argv) || req.argv.length === 0) throw invalid('argv must not be empty');
  req.argv.forEach((a, i) => checkString(`argv[${i}]`, a));
  for (const [k, v] of Object.entries(req.env)) {
    if (k === '' || k.includes('=')) throw invalid(`env name ${JSON.stringify(k)} is not valid`);
    checkString(`env ${k}`, k);
    checkString(`env ${k}`, v);
  }
  const body: Record<string, unknown> = {
    argv: req.argv,
    env: req.env,
    cwd: checkPath('cwd', req.cwd),
    stdin: req.stdin === true,
  };
  if (req.rlimits) {
    for (const [name, n] of Object.entries(req.rlimits)) {
      if (!(RLIMIT_NAMES as readonly string[]).includes(name)) throw invalid(`rlimit ${JSON.stringify(name)} is not one the agent sets`);
      checkInt(`rlimit ${name}`, n, 0, MAX_RLIMIT);
    }
    body.rlimits = req.rlimits;
  }
  if (req.wallMs !== undefined) body.wall_ms = checkInt('wallMs', req.wallMs, 1, MAX_WALL_MS);
  if (req.killOnExit !== undefined) {
    if (req.killOnExit !== 'group' && req.killOnExit !== 'sandbox') throw invalid('killOnExit must be group or sandbox');
    body.kill_on_exit = req.killOnExit;
  }
  if (req.pty) body.pty = { rows: checkInt('pty rows', req.pty.rows, 1, 65535), cols: checkInt('pty cols', req.pty.cols, 1, 65535) };
  return body;
}

function route(op: OpStream, channel: InboundChannel, cb?: (c: Buffer) => void, dest?: Writable): Promise<void> {
  const readable = new ChannelReadable(op, channel);
  if (cb) {
    readable.on('data', (chunk: Buffer) => {
      try {
        cb(chunk);
      } catch {
        // A throwing consumer loses its output; the agent connection is not its to break.
        readable.destroy();
      }
    });
  } else if (dest) {
    readable.pipe(dest, { end: false });
    dest.once('error', () => readable.destroy());
  } else {
    readable.resume();
  }
  return new Promise((resolve) => finished(readable, () => resolve()));
}

/** Throws validation_failed on a malformed request; everything later arrives through the handle. */
export function startExec(session: AgentSession, req: ExecRequest, out: ExecOutput = {}, signal?: AbortSignal): ExecHandle {
  const op = session.open('exec', checkRequest(req));
  const outputs = Promise.all([
    route(op, Channel.OUT, out.onStdout, out.stdout),
    route(op, Channel.ERR, out.onStderr, out.stderr),
  ]);
  const stdin = req.stdin ? new ChannelWritable(op) : null;
  const started = op.started.then((s) => ({ pid: (s as { pid: number }).pid }));
  const result = op.done.then(async (raw) => {
    const r = raw as {
      exit_code: number | null;
      signal: string | null;
      killed: 'wall' | 'cancel' | null;
      wall_ms: number;
      cpu_ms: number;
      max_rss_kb: number;
    };
    await outputs;
    return { exitCode: r.exit_code, signal: r.signal, wallMs: r.wall_ms, cpuMs: r.cpu_ms, maxRssKb: r.max_rss_kb, killed: r.killed };
  });
  started.catch(() => {});
  result.catch(() => {});
  // A process that is gone reads no more: later writes to stdin go nowhere.
  op.done.finally(() => stdin?.destroy()).catch(() => {});

  const onAbort = () => op.cancel();
  if (signal?.aborted) op.cancel();
  else if (signal) {
    signal.addEventListener('abort', onAbort, { once: true });
    op.done.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => {});
  }

  return {
    started,
    result,
    stdin,
    control(name) {
      if (!EXEC_SIGNALS.includes(name)) throw invalid(`signal ${String(name)} is not one the agent sends`);
      op.control({ signal: name });
    },
    resize(rows, cols) {
      if (!req.pty) throw invalid('resize needs a pty');
      op.control({ resize: { rows: checkInt('rows', rows, 1, 65535), cols: checkInt('cols', cols, 1, 65535) } });
    },
    cancel: () => op.cancel(),
  };
}
