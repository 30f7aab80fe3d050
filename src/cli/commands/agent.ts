import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { PaddockClient } from '../../client/client.js';
import type { Job, JobSpecInput } from '../../client/index.js';
import { PaddockError } from '../../errors.js';
import { connect } from '../client.js';
import { formatAgentEvent } from './agent-format.js';
import { agentLine, agentWork } from './job-summary.js';
import { addAgentLoginCommands } from './agent-login.js';
import { clientOptions, exitCodeOf, parseDuration } from './run.js';

const collect = (value: string, previous: string[]) => [...previous, value];

/** `paddock agent`: an agent job on a prompt or an issue, its progress streamed readably. */
export function agentCommand(program: Command): void {
  const agent = clientOptions(
    program
      .command('agent')
      .description('run Claude Code on a repository or a GitHub issue in a sandbox; stream its progress, print the diff summary or PR link')
      .option('--prompt <text>', 'what the agent should do')
      .option('--prompt-file <path>', 'read the prompt from a file ("-": stdin)')
      .option('--issue <owner/repo#N>', 'work on a GitHub issue (its repository is checked out)')
      .option('--repo <url>', 'repository to check out into the work dir')
      .option('--ref <ref>', 'branch, tag or commit to check out')
      .option('--model <name>', 'model name')
      .option('--max-turns <n>', 'stop after this many turns', Number)
      .option('--allow-tool <rule>', 'allow only these tools (repeatable), e.g. Edit, Bash(git diff:*)', collect, [])
      .option('--deny-tool <rule>', 'never these tools (repeatable)', collect, [])
      .option('--max-cost <usd>', 'budget: stop past this cost', Number)
      .option('--max-requests <n>', 'budget: at most this many model requests', Number)
      .option('--timeout <duration>', 'time limit, e.g. 30m')
      .option('--idle-timeout <duration>', 'stop when the agent shows nothing for this long')
      .option('--branch <name>', 'push the work to this branch')
      .option('--pr', 'open a pull request (with --issue)')
      .option('--comment', 'comment on the issue with the outcome (with --issue)')
      .option('--driver <driver>', 'sandbox driver', 'auto')
      .option('--diff', 'print the whole diff at the end, not only its summary')
      .option('--detach', 'print the job id and exit without waiting'),
  ).action(async (opts) => {
    const client = connect(opts);
    const prompt = opts.promptFile ? readFileSync(opts.promptFile === '-' ? 0 : opts.promptFile, 'utf8') : opts.prompt;
    if ((prompt === undefined) === (opts.issue === undefined)) {
      throw new PaddockError('validation_failed', 'give exactly one of --prompt/--prompt-file or --issue');
    }
    const limits: Record<string, number> = {};
    if (opts.timeout) limits.timeout_ms = parseDuration(opts.timeout);
    if (opts.idleTimeout) limits.idle_timeout_ms = parseDuration(opts.idleTimeout);
    const budget: Record<string, number> = {};
    if (opts.maxCost !== undefined) budget.max_cost_usd = opts.maxCost;
    if (opts.maxRequests !== undefined) budget.max_requests = opts.maxRequests;
    const spec: JobSpecInput = {
      kind: 'agent',
      ...(prompt !== undefined ? { prompt } : { github_issue: opts.issue }),
      ...(opts.repo ? { repo_url: opts.repo } : {}),
      ...(opts.ref ? { ref: opts.ref } : {}),
      ...(opts.model ? { model: opts.model } : {}),
      ...(opts.maxTurns ? { max_turns: opts.maxTurns } : {}),
      ...(opts.allowTool.length ? { allowed_tools: opts.allowTool } : {}),
      ...(opts.denyTool.length ? { disallowed_tools: opts.denyTool } : {}),
      ...(Object.keys(budget).length ? { budget } : {}),
      ...(Object.keys(limits).length ? { limits } : {}),
      driver: opts.driver,
      output: { diff: true, pull_request: !!opts.pr, issue_comment: !!opts.comment, ...(opts.branch ? { branch: opts.branch } : {}) },
    };
    const job = await client.jobs.submit(spec);
    if (opts.detach) {
      process.stdout.write(`${job.id}\n`);
      return;
    }
    process.stderr.write(`job ${job.id}\n`);
    process.once('SIGINT', () => {
      void client.jobs.cancel(job.id).catch(() => undefined);
    });
    for await (const e of client.jobs.events(job.id, { follow: true })) {
      const line = e.event === 'stderr' ? null : formatAgentEvent(e.event, e.data);
      if (line) process.stdout.write(`${line}\n`);
    }
    const ended = await client.jobs.get(job.id);
    await printOutcome(client, ended, !!opts.diff);
    process.exitCode = exitCodeOf(ended as Parameters<typeof exitCodeOf>[0]);
  });
  // Subcommands beside the command's own action: `paddock agent login`, `paddock agent status`.
  addAgentLoginCommands(agent);
}

async function printOutcome(client: PaddockClient, job: Job, wholeDiff: boolean) {
  const r = job.result;
  if (r && 'usage' in r) process.stdout.write(`${agentLine(job.state, r)}\n`);
  const names = (await client.jobs.artifacts(job.id).catch(() => [])).map((a) => a.name);
  for (const line of await agentWork(client, job, names)) process.stdout.write(`${line}\n`);
  if (wholeDiff && names.includes('diff.patch')) process.stdout.write((await client.jobs.artifact(job.id, 'diff.patch')).toString('utf8'));
}
