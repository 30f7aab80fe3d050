import { BASE_ENV, type ExecResult, type Sandbox } from '../sandbox/driver.js';
import type { AgentAdapter, AgentClaim, AgentEvent } from './adapters/adapter.js';
import { LineSplitter } from './lines.js';
import { redactText } from './redact.js';
import type { AgentJobSpec } from './spec.js';
import { AGENT_HOME, GIT_IDENTITY, REPO_DIR } from './workspace.js';

export interface CliRunOptions {
  sandbox: Sandbox;
  adapter: AgentAdapter;
  spec: AgentJobSpec;
  prompt: string;
  modelUrl: string;
  /** No event and no model traffic for this long aborts the run (reason `timeout`, `idle` set). */
  idleMs: number;
  signal: AbortSignal;
  event(type: AgentEvent['type'], data: Record<string, unknown>): void;
  /** Each stdout line, redacted, for the transcript artifact. */
  transcript(line: string): void;
  stderr(chunk: Buffer): void;
  /** Secret values that must not reach an event or the transcript. */
  secrets(): readonly string[];
  /** After each tool result: the work tree may have changed. */
  onToolResult?(): void;
}

export interface CliRun {
  /** Marks activity the CLI's stdout does not show (model traffic through the proxy). */
  touch(): void;
  done: Promise<{ exec: ExecResult; claim: AgentClaim | null; idle: boolean; lastEventAt: number }>;
}

/** Runs the agent CLI in the sandbox, turning its stdout into typed job events as they come. */
export function runCli(o: CliRunOptions): CliRun {
  const idle = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let lastEventAt = Date.now();
  const touch = () => {
    lastEventAt = Date.now();
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort('timeout'), o.idleMs);
  };
  touch();
  let claim: AgentClaim | null = null;
  const lines = new LineSplitter((raw, cut) => {
    const line = redactText(raw, o.secrets());
    o.transcript(line);
    if (cut) return;
    for (const ev of o.adapter.parseLine(line)) {
      touch();
      if (ev.type === 'agent.result') claim = o.adapter.claim(ev);
      o.event(ev.type, ev.data);
      if (ev.type === 'agent.tool_result') o.onToolResult?.();
    }
  });
  const inv = o.adapter.invocation(o.spec, { prompt: o.prompt, modelUrl: o.modelUrl, home: AGENT_HOME });
  const signal = AbortSignal.any([o.signal, idle.signal]);
  const done = o.sandbox
    .exec(
      { argv: inv.argv, cwd: REPO_DIR, env: { ...BASE_ENV, ...GIT_IDENTITY, ...inv.env }, stdin: inv.stdin },
      (stream, chunk) => (stream === 'stdout' ? lines.push(chunk) : o.stderr(chunk)),
      signal,
    )
    .then((exec) => {
      lines.end();
      return { exec, claim, idle: idle.signal.aborted && !o.signal.aborted, lastEventAt };
    })
    .finally(() => clearTimeout(timer));
  return { touch, done };
}
