import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { toPaddockError } from '../errors.js';
import type { JobContext, JobKind, JobOutcome } from '../jobs/kind.js';
import type { Sandbox } from '../sandbox/driver.js';
import { ADAPTERS } from './adapters/claude.js';
import { runCli } from './cli-run.js';
import { parseIssueRef } from './grammar.js';
import { agentEnd } from './outcome.js';
import { agentLimits, planAgentJob } from './plan.js';
import { AgentResult } from './result.js';
import type { AgentServices } from './services.js';
import type { AgentJobSpec } from './spec.js';
import { WorkKeeper } from './work-keeper.js';
import { setupWorkTree } from './workspace.js';

type Ctx = JobContext<AgentJobSpec>;

/** A failure before the CLI ran (issue, repository): the job ends with it, attributed to what failed. */
function early(reason: 'repo_error' | 'github_error', err: unknown, aborted: string | undefined): JobOutcome {
  const e = toPaddockError(err);
  if (aborted === 'cancel') return { state: 'cancelled', reason: 'cancelled', exitCode: null, result: null };
  if (aborted === 'timeout') return { state: 'timed_out', reason: 'timeout', exitCode: null, result: null };
  if (aborted === 'shutdown') return { state: 'failed', reason: 'runner_shutdown', exitCode: null, result: null };
  return { state: 'failed', reason, exitCode: null, result: null, error: { code: e.code, message: e.message } };
}

/**
 * `agent` jobs: the agent CLI in a sandbox without network, on a checkout of the job's repository,
 * reaching only the model proxy; the work (the diff) is kept however the run ends.
 */
export function agentKind(svc: AgentServices): JobKind<AgentJobSpec> {
  return {
    name: 'agent',
    result: AgentResult.nullable(),
    plan: planAgentJob,
    hardTimeoutMs: (spec) => spec.limits.timeout_ms + (spec.limits.idle_timeout_ms ?? svc.config.agents.idle_timeout_ms),
    run: (ctx) => runAgent(svc, ctx),
  };
}

async function runAgent(svc: AgentServices, ctx: Ctx): Promise<JobOutcome> {
  const { spec, signal } = ctx;
  const reason = () => (signal.aborted ? String(signal.reason) : undefined);
  let issue: Prepared['issue'] = spec.github_issue ? parseIssueRef(spec.github_issue) : undefined;
  let prompt = spec.prompt ?? '';
  let repoUrl = spec.repo_url ?? null;
  if (issue) {
    ctx.event('agent.phase', { phase: 'issue' });
    try {
      const trigger = spec.github_comment_id !== undefined ? { triggerCommentId: spec.github_comment_id } : {};
      const prepared = await svc.github!.prepare(issue, signal, trigger);
      issue = { ...issue, title: prepared.title };
      prompt = prepared.prompt;
      repoUrl ??= prepared.repoUrl;
    } catch (err) {
      return early('github_error', err, reason());
    }
  }
  const workDir = path.join(svc.config.data_dir, 'agent-work', ctx.jobId);
  await rm(workDir, { recursive: true, force: true });
  let checkout: string | null = null;
  let base: string | null = null;
  try {
    if (repoUrl) {
      ctx.event('agent.phase', { phase: 'checkout', repo_url: repoUrl });
      await mkdir(workDir, { recursive: true, mode: 0o700 });
      checkout = path.join(workDir, 'checkout');
      try {
        const auth = await svc.github?.gitAuth(repoUrl);
        base = (await svc.repos.checkout(repoUrl, spec.ref, checkout, { auth, signal })).commit;
      } catch (err) {
        return early('repo_error', err, reason());
      }
    }
    ctx.event('agent.phase', { phase: 'sandbox' });
    const limits = agentLimits(spec, svc.config);
    const sandbox = await ctx.driver.create({
      id: ctx.jobId,
      image: spec.image ?? svc.config.agents.image,
      network: 'none',
      limits: ctx.limits,
      files: [],
    });
    try {
      base = await setupWorkTree(sandbox, checkout);
      // The checkout is in the sandbox now; the host copy is not needed while the agent works.
      if (checkout) await rm(workDir, { recursive: true, force: true });
      return await runInSandbox(svc, ctx, sandbox, { prompt, repoUrl, base, idleMs: limits.idle_timeout_ms, issue });
    } finally {
      await sandbox.destroy();
    }
  } finally {
    await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    svc.artifacts.done(ctx.jobId);
  }
}

interface Prepared {
  prompt: string;
  repoUrl: string | null;
  base: string;
  idleMs: number;
  issue: (ReturnType<typeof parseIssueRef> & { title?: string }) | undefined;
}

async function runInSandbox(svc: AgentServices, ctx: Ctx, sandbox: Sandbox, p: Prepared): Promise<JobOutcome> {
  const { spec } = ctx;
  let touch = () => {};
  // A model turn that streams for longer than idle_timeout_ms is not idle, though the CLI prints nothing until it ends.
  const session = svc.proxy.session(ctx.jobId, spec.budget, () => touch());
  let overBudget: string | null = null;
  const budgetStop = new AbortController();
  void session.overBudget.then((why) => {
    overBudget = why;
    budgetStop.abort('budget_exceeded');
  });
  const keeper = new WorkKeeper(svc, ctx, sandbox, p.base);
  let usageSeen = 0;
  const listener = await sandbox.agent.listen(0, (socket) => {
    touch();
    session.handle(socket);
  });
  try {
    ctx.event('agent.phase', { phase: 'running' });
    const cli = runCli({
      sandbox,
      adapter: ADAPTERS[spec.agent],
      spec,
      prompt: p.prompt,
      modelUrl: `http://127.0.0.1:${listener.port}`,
      idleMs: p.idleMs,
      signal: AbortSignal.any([ctx.signal, budgetStop.signal]),
      event: (type, data) => {
        ctx.event(type, data);
        // What the job has spent so far, once per model answer (the proxy counts it as the answer ends).
        if ((type === 'agent.text' || type === 'agent.tool_use') && session.usage.requests !== usageSeen) {
          usageSeen = session.usage.requests;
          ctx.event('agent.usage', { ...session.usage });
        }
      },
      transcript: (line) => keeper.transcript(line),
      stderr: (chunk) => ctx.output('stderr', chunk),
      secrets: svc.secrets,
      onToolResult: () => keeper.snapshotSoon(),
    });
    touch = cli.touch;
    const run = await cli.done.catch((err: unknown) => ({ error: toPaddockError(err) }));
    ctx.event('agent.phase', { phase: 'diff' });
    const diff = await keeper.final();
    const aborted = ctx.signal.aborted ? String(ctx.signal.reason) : undefined;
    const exec = 'exec' in run ? run.exec : null;
    const claim = 'claim' in run ? run.claim : null;
    const end =
      'error' in run
        ? { state: 'failed' as const, reason: 'driver_error' as const, error: { code: run.error.code, message: run.error.message } }
        : agentEnd({ exec, claim, idle: run.idle, aborted, overBudget, modelError: session.lastError });
    const usage = { ...session.usage };
    const result: AgentResult = {
      exit_code: exec?.exitCode ?? null,
      signal: exec?.signal ?? null,
      wall_ms: exec?.wallMs ?? 0,
      cpu_ms: exec?.cpuMs ?? null,
      max_rss_kb: exec?.maxRssKb ?? null,
      ...(exec?.limit === 'cpu' || exec?.limit === 'memory' || exec?.limit === 'output' ? { limit: exec.limit } : {}),
      subtype: claim?.subtype ?? null,
      is_error: claim ? claim.is_error : true,
      num_turns: claim?.num_turns ?? null,
      duration_ms: claim?.duration_ms ?? null,
      total_cost_usd: usage.cost_usd,
      usage,
      permission_denials: claim?.permission_denials ?? [],
      cli: { total_cost_usd: claim?.total_cost_usd ?? null },
      repo_url: p.repoUrl,
      base_commit: p.base,
      diff: diff && { bytes: diff.patch.length, files: diff.files.length, truncated: diff.truncated },
    };
    if (claim?.result) await svc.artifacts.put(ctx.jobId, 'final.txt', claim.result).catch(() => undefined);
    const outcome: JobOutcome = { ...end, exitCode: exec?.exitCode ?? null, result };
    return await publish(svc, ctx, p, outcome, result, diff);
  } finally {
    session.close();
    await listener.close().catch(() => undefined);
    await keeper.idle();
  }
}

/** On success, the branch / pull request / comment the job asked for; on failure, the issue hears why. */
async function publish(
  svc: AgentServices,
  ctx: Ctx,
  p: Prepared,
  outcome: JobOutcome,
  result: AgentResult,
  diff: Awaited<ReturnType<WorkKeeper['final']>>,
): Promise<JobOutcome> {
  const { spec } = ctx;
  const out = spec.output;
  const github = svc.github;
  const wantsPush = out.pull_request || out.branch !== undefined;
  const signal = AbortSignal.timeout(svc.config.agents.repos.git_timeout_ms);
  if (outcome.state === 'succeeded' && wantsPush && p.repoUrl && diff && diff.patch.length > 0 && !diff.truncated && github) {
    ctx.event('agent.phase', { phase: 'publish' });
    try {
      if (p.issue) {
        const pub = await github.publish({
          repoUrl: p.repoUrl,
          issue: p.issue,
          baseCommit: p.base,
          patch: diff.patch,
          branch: out.branch,
          pullRequest: out.pull_request,
          comment: out.issue_comment,
          summary: {
            num_turns: result.num_turns,
            total_cost_usd: result.total_cost_usd,
            subtype: result.subtype,
            duration_ms: result.duration_ms,
            changed_files: diff.files.map((f) => f.path),
          },
          signal,
          jobId: ctx.jobId,
        });
        Object.assign(result, pub);
      } else {
        const pushed = await github.pushBranch({
          repoUrl: p.repoUrl,
          baseCommit: p.base,
          patch: diff.patch,
          branch: out.branch!,
          signal,
          jobId: ctx.jobId,
        });
        Object.assign(result, { branch: out.branch, commit: pushed.commit });
      }
      ctx.event('agent.published', { ...pick(result, ['branch', 'commit', 'pull_request_url', 'comment_url']) });
      return outcome;
    } catch (err) {
      const e = toPaddockError(err);
      outcome = { ...outcome, state: 'failed', reason: 'github_error', error: { code: e.code, message: e.message } };
    }
  } else if (outcome.state === 'succeeded' && wantsPush && (!diff || diff.patch.length === 0)) {
    ctx.event('agent.published', { skipped: 'the agent changed nothing' });
  }
  if (outcome.state !== 'succeeded' && p.issue && out.issue_comment && github) {
    await github
      .reportFailure({
        issue: p.issue,
        reason: outcome.reason ?? outcome.state,
        detail: outcome.error?.message ?? '',
        diffBytes: diff?.patch.length ?? 0,
        jobId: ctx.jobId,
      })
      .catch((err) => ctx.log.warn({ err: toPaddockError(err) }, 'commenting the failure on the issue failed'));
  }
  return outcome;
}

const pick = <T extends object>(o: T, keys: (keyof T)[]) => Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
