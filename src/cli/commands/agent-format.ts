import { clean } from './job-summary.js';

function firstLines(text: string, lines = 3, width = 200): string {
  const all = clean(text).split('\n');
  const shown = all.slice(0, lines).map((l) => (l.length > width ? `${l.slice(0, width)}…` : l));
  return shown.join('\n    ') + (all.length > lines ? ` …(${all.length - lines} more lines)` : '');
}

function toolSummary(name: string, input: unknown): string {
  const i = (input ?? {}) as Record<string, unknown>;
  const arg = typeof i.command === 'string' ? i.command : typeof i.file_path === 'string' ? i.file_path : typeof i.pattern === 'string' ? i.pattern : typeof input === 'string' ? input : JSON.stringify(input);
  return `${clean(name)}: ${firstLines(String(arg), 1)}`;
}

/** One line (or a few) per agent event, as `paddock agent` prints them; null for events it does not show. */
export function formatAgentEvent(type: string, d: Record<string, any>): string | null {
  switch (type) {
    case 'agent.phase':
      return `▸ ${d.phase}${d.repo_url ? ` ${clean(String(d.repo_url))}` : ''}`;
    case 'agent.init':
      return `● ${clean(String(d.model ?? 'model ?'))} (Claude Code ${clean(String(d.version ?? '?'))})`;
    case 'agent.text':
      return d.parent ? null : `  ${firstLines(String(d.text ?? ''), 20)}`;
    case 'agent.tool_use':
      return `→ ${toolSummary(String(d.name ?? '?'), d.input)}`;
    case 'agent.tool_result':
      return `${d.is_error ? '✗' : '←'} ${firstLines(String(d.content ?? ''), 3)}`;
    case 'agent.usage':
      return `  $${Number(d.cost_usd ?? 0).toFixed(4)} so far · ${d.requests} requests · ${d.output_tokens} output tokens`;
    case 'agent.result':
      return `■ ${clean(String(d.subtype))}${d.is_error ? ' (error)' : ''}`;
    case 'agent.published':
      return d.skipped ? `▸ nothing published: ${clean(String(d.skipped))}` : `▸ published ${clean(String(d.pull_request_url ?? d.branch ?? ''))}`;
    case 'state':
      return d.state === 'queued' || d.state === 'running' ? null : `▸ ${d.state}${d.reason ? ` (${d.reason})` : ''}`;
    default:
      return null;
  }
}
