import { z } from 'zod';
import { jobFields, JobLimits } from '../jobs/spec-fields.js';
import { PRINTABLE_RE } from '../util/grammar.js';
import { ISSUE_REF_RE, isCheckoutRef, isGitRefName, MODEL_RE, TOOL_RULE_RE } from './grammar.js';

const NoNul = (what: string, max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !s.includes('\0'), `${what} must not contain NUL bytes`);

const ToolRules = z.array(z.string().regex(TOOL_RULE_RE, 'must be a tool rule such as Bash, Edit or Bash(git diff:*)')).max(100);

export const AgentBudget = z.strictObject({
  /** Model API requests the job may make; the next one is refused and the job ends `budget_exceeded`. */
  max_requests: z.number().int().positive().max(100_000).optional(),
  /** Output tokens over all requests. */
  max_output_tokens: z.number().int().positive().optional(),
  /** Cost at the configured prices (agents.prices). */
  max_cost_usd: z.number().positive().max(100_000).optional(),
});
export type AgentBudget = z.infer<typeof AgentBudget>;

export const AgentOutput = z.strictObject({
  /** Store the work tree's diff against the base commit as the `diff.patch` artifact. */
  diff: z.boolean().default(true),
  /** Push the work to this branch (default for an issue: `paddock/issue-N-<slug>`). */
  branch: z.string().refine(isGitRefName, 'must be a git branch name').optional(),
  /** Open a pull request from the branch (needs a GitHub repository). */
  pull_request: z.boolean().default(false),
  /** Comment on the issue with the outcome (turns, cost, PR link, or the reason it failed). */
  issue_comment: z.boolean().default(false),
});

/**
 * An `agent` job: a coding agent CLI (Claude Code) on a prompt or a GitHub issue, in a checkout of a
 * repository, in a sandbox without network whose only way out is the model proxy.
 */
export const AgentJobSpec = z
  .strictObject({
    kind: z.literal('agent'),
    /** Which CLI adapter runs (src/agents/adapters/). */
    agent: z.enum(['claude']).default('claude'),
    prompt: NoNul('prompt', 200_000).min(1).optional(),
    github_issue: z.string().regex(ISSUE_REF_RE, 'must be an issue reference owner/repo#N').optional(),
    /** The issue comment that asked for the job (webhook trigger); the prompt quotes it (src/github/issue.ts). */
    github_comment_id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
    /** Repository to check out into the work dir; for `github_issue` it defaults to the issue's repository. */
    repo_url: z.string().min(1).max(2048).optional(),
    ref: z.string().refine(isCheckoutRef, 'must be a branch, tag or commit id').optional(),
    model: z.string().regex(MODEL_RE, 'must be a model name').optional(),
    max_turns: z.number().int().min(1).max(1000).optional(),
    allowed_tools: ToolRules.optional(),
    disallowed_tools: ToolRules.optional(),
    system_prompt: NoNul('system_prompt', 100_000).optional(),
    append_system_prompt: NoNul('append_system_prompt', 100_000).optional(),
    budget: AgentBudget.optional(),
    output: AgentOutput.default({ diff: true, pull_request: false, issue_comment: false }),
    image: z.string().regex(/^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$/, 'must be a Paddock image name').optional(),
    ...jobFields,
    limits: JobLimits.extend({
      /** No stream event for this long ends the job (default agents.idle_timeout_ms). */
      idle_timeout_ms: z.number().int().min(1000).optional(),
    }).default({}),
    labels: jobFields.labels,
  })
  .refine((s) => (s.prompt === undefined) !== (s.github_issue === undefined), {
    message: 'give exactly one of "prompt" or "github_issue"',
    path: ['prompt'],
  })
  .refine((s) => !(s.output.pull_request || s.output.issue_comment) || s.github_issue !== undefined, {
    message: 'output.pull_request and output.issue_comment need "github_issue"',
    path: ['output'],
  })
  .refine((s) => s.output.branch === undefined || s.github_issue !== undefined || s.repo_url !== undefined, {
    message: 'output.branch needs a repository: give "repo_url" or "github_issue"',
    path: ['output', 'branch'],
  })
  .refine((s) => s.github_comment_id === undefined || s.github_issue !== undefined, {
    message: 'github_comment_id needs "github_issue"',
    path: ['github_comment_id'],
  })
  .refine((s) => s.system_prompt === undefined || PRINTABLE_RE.test(s.system_prompt.replace(/[\n\t\r]/g, '')), {
    message: 'system_prompt must not contain control characters other than newlines and tabs',
    path: ['system_prompt'],
  });
export type AgentJobSpec = z.infer<typeof AgentJobSpec>;
