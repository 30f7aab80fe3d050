import type { AgentJobSpec } from '../spec.js';

/** The typed events an agent run produces on its job's stream (the same for every CLI). */
export type AgentEventType = 'agent.init' | 'agent.text' | 'agent.tool_use' | 'agent.tool_result' | 'agent.result';

export interface AgentEvent {
  type: AgentEventType;
  data: Record<string, unknown>;
}

/** What the CLI claims at its end. The job's cost and usage come from the model proxy, not from here. */
export interface AgentClaim {
  subtype: string;
  is_error: boolean;
  num_turns: number | null;
  duration_ms: number | null;
  total_cost_usd: number | null;
  permission_denials: { tool_name: string; tool_use_id: string | null }[];
  result: string | null;
}

export interface AgentInvocation {
  argv: string[];
  env: Record<string, string>;
  /** The prompt, when it is too long for argv. */
  stdin?: Buffer | undefined;
}

export interface InvocationContext {
  prompt: string;
  /** The model proxy as the sandbox reaches it (`http://127.0.0.1:PORT`). */
  modelUrl: string;
  /** A writable home for the CLI's own state, outside the work tree. */
  home: string;
}

/**
 * One agent CLI: how it is started and how its output is read. Another CLI is one more
 * adapter; nothing else in src/agents/ knows which CLI runs.
 */
export interface AgentAdapter {
  readonly name: AgentJobSpec['agent'];
  invocation(spec: AgentJobSpec, ctx: InvocationContext): AgentInvocation;
  /** One line of the CLI's stdout; lines that are not its events give none. */
  parseLine(line: string): AgentEvent[];
  /** The CLI's final claim, read off its `agent.result` event. */
  claim(result: AgentEvent): AgentClaim;
}
