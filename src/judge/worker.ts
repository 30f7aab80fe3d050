import type { TestLimits } from '../config/judge.js';
import type { Limits } from '../config/schema.js';
import { toPaddockError } from '../errors.js';
import { BASE_ENV, type ExecLimits, type ExecResult, type Sandbox, type SandboxDriver, type SandboxFile } from '../sandbox/driver.js';
import { expand, type Language } from './languages.js';
import type { CompileResult } from './result.js';
import { figures, keep, limitVerdict } from './verdict.js';

const WORK = '/work';
const ENV = { ...BASE_ENV, HOME: WORK };

/** What one sandbox of a submission needs to compile and run it. */
export interface WorkerSpec {
  /** Unique per sandbox (the driver labels what it makes with it). */
  id: string;
  driver: SandboxDriver;
  image: string;
  limits: Limits;
  language: Language;
  files: SandboxFile[];
  options: string[];
  args: string[];
  test: TestLimits;
  compile: TestLimits;
  keepBytes: number;
}

export interface RunRequest {
  stdin: Buffer;
  args: string[];
  files: SandboxFile[];
}

/** One test's exec limits: the program's, with the runtime's own threads on top of its pids. */
export function execLimits(l: TestLimits, lang: Language, forCompile = false): ExecLimits {
  return {
    // Killed only past the extra time; the verdict still holds the program to cpu_time_ms (verdict.ts).
    cpuMs: l.cpu_time_ms + (l.cpu_extra_ms ?? 0),
    wallMs: l.wall_time_ms,
    pids: l.pids + (forCompile ? 0 : (lang.runtimeThreads ?? 0)),
    outputBytes: l.output_bytes,
    fileSizeBytes: l.file_size_kb * 1024,
    stackBytes: l.stack_kb * 1024,
  };
}

/**
 * One sandbox of a submission: the program's files put in once, compiled once, then one fresh
 * process per test with that test's limits. Every exec kills what it leaves behind (killOnExit),
 * so nothing of one test runs on into the next. Paths are fixed or checked names under /work; no
 * host-side code ever reads what the program wrote.
 */
export class JudgeWorker {
  private sandbox: Sandbox | undefined;
  private compiled: CompileResult | undefined;

  constructor(private readonly w: WorkerSpec) {}

  /** Makes the sandbox and compiles; the compile's result, or undefined for an interpreted language. */
  async start(signal: AbortSignal): Promise<CompileResult | undefined> {
    const { w } = this;
    this.sandbox = await w.driver.create({ id: w.id, image: w.image, network: 'none', limits: w.limits, files: w.files });
    if (!w.language.compile) return undefined;
    const argv = expand(w.language.compile, { options: w.options, sources: this.sources(), limits: w.compile });
    const r = await this.sandbox.exec(
      { argv, cwd: WORK, env: ENV, limits: execLimits(w.compile, w.language, true), killOnExit: 'sandbox' },
      () => undefined,
      signal,
    );
    this.compiled = compileResult(r, w.compile, w.keepBytes);
    return this.compiled;
  }

  private sources(): string[] {
    const ext = this.w.language.extensions;
    return this.w.files.map((f) => f.path).filter((p) => ext.some((e) => p.endsWith(e)));
  }

  /** Runs the program once against one test's input. */
  async run(req: RunRequest, signal: AbortSignal): Promise<ExecResult> {
    const { w } = this;
    const sandbox = this.sandbox!;
    for (const f of req.files) await sandbox.agent.writeFile(`${WORK}/${f.path}`, f.content, { mode: f.mode ?? 0o644 });
    const argv = [...expand(w.language.run, { options: [], sources: this.sources(), limits: w.test }), ...w.args, ...req.args];
    return sandbox.exec(
      { argv, cwd: WORK, env: ENV, stdin: req.stdin, limits: execLimits(w.test, w.language), killOnExit: 'sandbox' },
      () => undefined,
      signal,
    );
  }

  /** The language's version, as its version command prints it (first line; java prints to stderr). */
  async version(signal: AbortSignal): Promise<string> {
    const r = await this.sandbox!.exec(
      { argv: this.w.language.version, cwd: WORK, env: ENV, limits: execLimits(this.w.compile, this.w.language, true), killOnExit: 'sandbox' },
      () => undefined,
      signal,
    );
    return (r.stdout.trim() || r.stderr.trim()).split('\n')[0]!.slice(0, 200);
  }

  /** Settles when the sandbox died under a test (an OOM that took the whole gVisor sandbox, a crash). */
  async dead(): Promise<boolean> {
    if (!this.sandbox) return true;
    return Promise.race([this.sandbox.died.then(() => true), new Promise<boolean>((r) => setImmediate(() => r(false)))]);
  }

  async close(): Promise<void> {
    await this.sandbox?.destroy().catch(() => undefined);
    this.sandbox = undefined;
  }
}

/** The compile step's verdict: its own limits, then the compiler's exit status. */
export function compileResult(r: ExecResult, limits: TestLimits, keepBytes: number): CompileResult {
  const f = figures(r);
  const output = keep(r.stdout + r.stderr, keepBytes).text;
  const streams = { stdout: keep(r.stdout, keepBytes).text, stderr: keep(r.stderr, keepBytes).text };
  const base = { exit_code: r.exitCode, signal: r.signal, output, ...streams, wall_ms: Math.round(f.wallMs), cpu_ms: f.cpuMs, memory_kb: f.memoryKb };
  const limited = limitVerdict(r, limits, {});
  if (limited && limited.verdict !== 'runtime_error') return { ...base, verdict: limited.verdict as CompileResult['verdict'] };
  return { ...base, verdict: r.exitCode === 0 && !r.signal ? 'accepted' : 'compilation_error' };
}

/** A driver's failure under a test, said in a sentence (never the program's fault). */
export const internalMessage = (err: unknown): string => {
  const e = toPaddockError(err);
  return `${e.code}: ${e.message}`.slice(0, 2000);
};
