import type { PaddockClient } from '../../client/client.js';
import type { Job } from '../../client/types.js';
import { judgeLines } from './judge-format.js';

type AgentResult = Extract<NonNullable<Job['result']>, { usage: unknown }>;
const MAX_FILES = 50;

/** Terminal-safe: what a job recorded must not move the user's cursor or change colours. */
export const clean = (s: string): string => s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '�');

const isAgent = (r: Job['result']): r is AgentResult => !!r && 'usage' in r;

function span(from: string | null, to: string | null): string {
  if (!from || !to) return '';
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) ? ` (${(ms / 1000).toFixed(1)} s)` : '';
}

const bytes = (n: number) => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`);

/** An agent job's figures, one line: what it cost and how it ended. */
export function agentLine(state: string, r: AgentResult): string {
  const secs = r.duration_ms != null ? `${(r.duration_ms / 1000).toFixed(1)} s` : '-';
  const u = r.usage;
  return (
    `${state} · ${r.num_turns ?? '-'} turns · $${r.total_cost_usd.toFixed(4)} · ${u.requests} requests · ` +
    `${u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens} in / ${u.output_tokens} out tokens · ${secs}` +
    (r.subtype ? ` · ${clean(r.subtype)}` : '')
  );
}

/** Where an agent job's work went (PR, branch) and which files it changed (its changed_files.json). */
export async function agentWork(client: PaddockClient, job: Job, names: string[]): Promise<string[]> {
  const lines: string[] = [];
  const r = job.result;
  if (isAgent(r)) {
    if (r.pull_request_url) lines.push(`pull request: ${clean(r.pull_request_url)}`);
    else if (r.branch) lines.push(`branch: ${clean(r.branch)} (${clean(r.commit ?? '?')})`);
    if (r.permission_denials.length) lines.push(`denied tools: ${r.permission_denials.map((d) => clean(d.tool_name)).join(', ')}`);
  }
  if (names.includes('changed_files.json')) {
    const changed = JSON.parse((await client.jobs.artifact(job.id, 'changed_files.json')).toString('utf8')) as { files: { status: string; path: string }[] };
    lines.push(changed.files.length ? `changed: ${changed.files.length} file(s)` : 'changed: nothing');
    for (const f of changed.files.slice(0, MAX_FILES)) lines.push(`  ${clean(f.status)} ${clean(f.path)}`);
    if (changed.files.length > MAX_FILES) lines.push(`  … ${changed.files.length - MAX_FILES} more`);
  }
  return lines;
}

/** `paddock jobs show`: what a person wants to know of a job, without its output. */
export async function jobSummary(client: PaddockClient, job: Job): Promise<string> {
  // A succeeded job's reason is always `exit_code`: said only when it tells something.
  const why = job.reason && job.state !== 'succeeded' ? ` (${clean(job.reason)})` : '';
  const lines = [`${job.id}  ${job.kind}  ${job.state}${why}`];
  if (job.error) lines.push(`error: ${clean(job.error.code)}: ${clean(job.error.message)}`);
  lines.push(`driver: ${job.driver ?? '-'}${job.image ? ` · image ${clean(job.image)}` : ''}`);
  lines.push(`created ${job.created_at}${job.started_at ? ` · started ${job.started_at}` : ''}${job.finished_at ? ` · finished ${job.finished_at}` : ''}${span(job.started_at, job.finished_at)}`);
  const r = job.result;
  if (r && 'verdict' in r) lines.push(...judgeLines(r));
  else if (r && 'github_job_id' in r) {
    const exit = r.exit_code === null ? (r.signal ? `signal ${r.signal}` : 'no exit') : `exit ${r.exit_code}`;
    lines.push(`runner ${clean(r.runner_name)} (GitHub job ${r.github_job_id}) · ${exit} · wall ${r.wall_ms} ms`);
  } else if (r) {
    const exit = r.exit_code === null ? (r.signal ? `signal ${r.signal}` : 'no exit') : `exit ${r.exit_code}`;
    const cpu = r.cpu_ms != null ? ` · cpu ${r.cpu_ms} ms` : '';
    const rss = r.max_rss_kb != null ? ` · peak ${bytes(r.max_rss_kb * 1024)}` : '';
    lines.push(`${exit} · wall ${r.wall_ms} ms${cpu}${rss}${r.limit ? ` · hit its ${r.limit} limit` : ''}`);
    if (isAgent(r)) lines.push(agentLine(job.state, r));
    else {
      const out = (name: string, text: string, cut: boolean) => `${name} ${bytes(Buffer.byteLength(text))}${cut ? ' (truncated)' : ''}`;
      lines.push(`${out('stdout', r.stdout, r.stdout_truncated)} · ${out('stderr', r.stderr, r.stderr_truncated)} (paddock jobs logs ${job.id})`);
    }
  }
  const artifacts = job.kind === 'agent' ? await client.jobs.artifacts(job.id).catch(() => []) : [];
  lines.push(...(await agentWork(client, job, artifacts.map((a) => a.name))));
  if (artifacts.length) {
    lines.push('artifacts:');
    for (const a of artifacts) lines.push(`  ${a.name}  ${bytes(a.size)}${a.truncated ? ' (truncated)' : ''}`);
  }
  return `${lines.join('\n')}\n`;
}
