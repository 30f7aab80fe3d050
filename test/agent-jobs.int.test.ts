import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentImageMissing, artifact, type AgentEnv, bash, jobEvents, MODEL_KEY, runAgentJob, startAgentEnv } from './helpers/agent-env.js';
import { runCli } from './helpers/cli.js';
import { dockerMissing } from './helpers/docker.js';
import { hostUser } from './helpers/sandbox.js';

// The real Claude Code CLI (the agent image) in a gVisor and a bwrap sandbox, against the scripted
// model server through the model proxy, on a repository served over HTTP on loopback.
const missing = agentImageMissing();
const noDocker = await dockerMissing();
const CI = process.env.CI === 'true';

describe.each([
  { driver: 'gvisor', missing: missing ?? noDocker, flags: { drivers: ['gvisor'], docker: { uid_range_start: 250_000, uid_range_size: 20 }, pool: { size: 0 } } },
  { driver: 'bwrap', missing, flags: { ...hostUser(62_100) } },
])('agent jobs ($driver)', ({ driver, missing, flags }) => {
  let env: AgentEnv;
  beforeAll(async () => {
    if (missing) throw new Error(missing);
    env = await startAgentEnv(flags);
  });
  if (missing && !CI) return void it.skip(`needs: ${missing}`);
  afterAll(() => env?.close());

  it('runs Claude Code on a checkout: typed events, the diff as an artifact, usage from the proxy', async () => {
    const repo = await env.repo('acme/app', { 'README.md': '# app\n', 'src/a.txt': 'one\n' });
    env.model.setScript([bash('echo two >> src/a.txt && echo new > b.txt'), { text: 'Added b.txt.' }]);
    const job = await runAgentJob(env.runner, { prompt: 'add b.txt', repo_url: repo.url });
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
    expect(job.driver).toBe(driver);
    expect(job.result).toMatchObject({ subtype: 'success', is_error: false, num_turns: 2, repo_url: repo.url, base_commit: repo.commit });
    expect(job.result.usage.requests).toBe(2);
    expect(job.result.usage.output_tokens).toBeGreaterThan(0);
    expect(job.result.total_cost_usd).toBeGreaterThan(0);
    expect(job.result.diff).toEqual({ bytes: expect.any(Number), files: 2, truncated: false });

    const types = (await jobEvents(env.runner, job.id)).map((e) => e.event);
    for (const t of ['agent.init', 'agent.tool_use', 'agent.tool_result', 'agent.text', 'agent.result']) expect(types).toContain(t);
    expect(types.indexOf('agent.tool_use')).toBeLessThan(types.indexOf('agent.tool_result'));

    const list = await env.runner.api('GET', `/v1/jobs/${job.id}/artifacts`);
    expect(list.body.artifacts.map((a: { name: string }) => a.name).sort()).toEqual(['changed_files.json', 'diff.patch', 'final.txt', 'transcript.jsonl']);
    const diff = await artifact(env.runner, job.id, 'diff.patch');
    expect(diff.text).toContain('+two');
    expect(diff.text).toContain('+++ b/b.txt');
    expect(JSON.parse((await artifact(env.runner, job.id, 'changed_files.json')).text).files).toEqual([
      { status: 'A', path: 'b.txt' },
      { status: 'M', path: 'src/a.txt' },
    ]);
    expect((await artifact(env.runner, job.id, 'final.txt')).text).toBe('Added b.txt.');
    expect((await artifact(env.runner, job.id, '../../admin.token')).status).toBe(404);
    // The model server saw the runner's key; the CLI only ever had a placeholder.
    const posts = env.model.requests.filter((r) => r.method === 'POST');
    expect(posts.length).toBeGreaterThanOrEqual(2);
    for (const r of posts) expect(r.headers['x-api-key']).toBe(MODEL_KEY);
  }, 180_000);

  it('keeps the key out of the sandbox and out of everything recorded, even when the job looks for it', async () => {
    // The pattern is put together at run time, so the command line itself does not hold it.
    const [a, b] = [MODEL_KEY.slice(12, 20), MODEL_KEY.slice(20, 28)];
    env.model.setScript([
      bash(
        `echo "key=$ANTHROPIC_API_KEY"; p="${a}""${b}"; ` +
          '(env; ps -ef; cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline | tr "\\0" "\\n"; ' +
          'grep -rsIl "$p" / --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr) > /tmp/seen.txt 2>/dev/null; ' +
          'echo "hits=$(grep -c "$p" /tmp/seen.txt) lines=$(wc -l < /tmp/seen.txt)"',
      ),
      { text: `I found ${MODEL_KEY}` },
    ]);
    const job = await runAgentJob(env.runner, { prompt: 'find the key' });
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
    const events = await jobEvents(env.runner, job.id);
    const result = events.find((e) => e.event === 'agent.tool_result')!;
    expect(result.data.content).toContain('key=paddock-model-proxy');
    // Looked for in the sandbox's env, process list and files: not there (so not merely redacted on the way out).
    expect(result.data.content).toMatch(/hits=0 lines=[1-9]/);
    const everything = [
      JSON.stringify(events),
      JSON.stringify((await env.runner.api('GET', `/v1/jobs/${job.id}`)).body),
      (await artifact(env.runner, job.id, 'transcript.jsonl')).text,
      (await artifact(env.runner, job.id, 'final.txt')).text,
    ].join('\n');
    expect(everything).not.toContain(MODEL_KEY);
    // The model's own answer quoted the key back (the fake knows it): recorded as redacted.
    expect(everything).toContain('[REDACTED]');
  }, 180_000);

  it('paddock agent streams tool calls, text and cost, then the changed files (the CLI, through the client)', async () => {
    if (driver !== 'bwrap') return;
    const repo = await env.repo('acme/cli', { 'x.txt': 'x\n' });
    env.model.setScript([bash('printf "\\033[2Jgone\\n" > y.txt && cat y.txt'), { text: 'Made y.txt.' }]);
    const res = await runCli(['agent', '--repo', repo.url, '--prompt', '--help is a prompt here'], { url: env.runner.url, token: env.runner.token });
    const out = res.stdout.toString();
    if (process.env.SHOW) console.log(out);
    expect(res.code, out + res.stderr).toBe(0);
    expect(out).toMatch(/→ Bash: printf/);
    expect(out).toContain('Made y.txt.');
    expect(out).toMatch(/\$\d+\.\d{4} so far · 1 requests/);
    expect(out).toMatch(/succeeded · 2 turns · \$\d+\.\d{4} · 2 requests/);
    expect(out).toContain('  A y.txt');
    // What the job printed reaches the terminal without its control characters.
    expect(out).not.toContain('\u001b');
    // The prompt that looks like an option reached the model as the prompt.
    expect(JSON.stringify(env.model.requests.at(-2)?.body)).toContain('--help is a prompt here');

    // `paddock jobs show`: the same figures, the changed files and the artifacts, for a job found later.
    const id = /job (job_\w+)/.exec(res.stderr)?.[1];
    expect(id, res.stderr).toBeDefined();
    const show = await runCli(['jobs', 'show', id!], { url: env.runner.url, token: env.runner.token });
    const summary = show.stdout.toString();
    expect(show.code, summary + show.stderr).toBe(0);
    expect(summary).toMatch(new RegExp(`^${id}  agent  succeeded\\n`));
    expect(summary).toMatch(/succeeded · 2 turns · \$\d+\.\d{4} · 2 requests · \d+ in \/ \d+ out tokens/);
    expect(summary).toContain('changed: 1 file(s)\n  A y.txt');
    expect(summary).toMatch(/artifacts:\n(  \S+  [\d.]+ (B|KiB)\n){4}$/);
    expect(summary).toContain('  diff.patch  ');
    expect(summary).not.toContain('\u001b');
  }, 120_000);
});
