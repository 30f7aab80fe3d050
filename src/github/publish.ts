import type { GitAuth, PushRequest } from '../agents/repo-cache.js';
import type { IssueRef } from '../agents/grammar.js';
import { PaddockError } from '../errors.js';
import { branchName } from './branch.js';
import type { Octokit } from './client.js';
import { failureComment, pullRequestBody, type RunSummary, successComment } from './comments.js';
import { githubError } from './errors.js';
import { cleanText, truncateUtf8 } from './text.js';

export type { RunSummary };

/** What publishSuccess needs of the repository cache (src/agents/repo-cache.ts). */
export interface PatchPusher {
  pushPatch(req: PushRequest): Promise<{ commit: string }>;
}

export interface PublishIssue extends IssueRef {
  title: string;
}

export interface PublishSuccessOptions {
  octokit: Octokit;
  repoCache: PatchPusher;
  /** The repository's git URL (`<github.git_url>/<owner>/<repo>.git`). */
  repoUrl: string;
  auth?: GitAuth;
  issue: PublishIssue;
  /** The commit the agent's work tree was checked out at; the patch applies to it. */
  baseCommit: string;
  /** `git diff` of the work tree against baseCommit. */
  patch: Buffer | string;
  summary: RunSummary;
  pullRequest: boolean;
  comment: boolean;
  /** The spec's `output.branch`; default branchName(issue). */
  branch?: string;
  /** The pull request's base branch; default the repository's default branch. */
  baseBranch?: string;
  jobId?: string;
  author?: { name: string; email: string };
  signal?: AbortSignal;
}

export interface PublishResult {
  branch: string;
  commit: string;
  pull_request_url?: string;
  pull_request_number?: number;
  comment_url?: string;
}

export const PADDOCK_AUTHOR = { name: 'Paddock', email: 'paddock@users.noreply.github.com' };

/**
 * Publishes a successful run: the patch as one commit on the issue's branch (pushed by the repo
 * cache), a pull request from it that fixes the issue (one already open for the branch is reused:
 * a second run updates the branch and keeps its PR), and a comment on the issue.
 */
export async function publishSuccess(o: PublishSuccessOptions): Promise<PublishResult> {
  const { octokit, issue } = o;
  const where = `${issue.owner}/${issue.repo}`;
  const branch = o.branch ?? branchName(issue);
  const title = truncateUtf8(cleanText(issue.title).replace(/\n/g, ' '), 200).text;
  const { commit } = await o.repoCache.pushPatch({
    url: o.repoUrl,
    base: o.baseCommit,
    patch: o.patch,
    branch,
    message: `${title} (#${issue.number})\n\nMade by Paddock's agent for ${where}#${issue.number}.`,
    author: o.author ?? PADDOCK_AUTHOR,
    ...(o.auth ? { auth: o.auth } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const result: PublishResult = { branch, commit };

  if (o.pullRequest) {
    const pr = await openOrReusePull(octokit, issue, branch, title, pullRequestBody(issue.number, o.summary, o.jobId), o.baseBranch);
    result.pull_request_url = pr.html_url;
    result.pull_request_number = pr.number;
  }
  if (o.comment) {
    result.comment_url = await comment(octokit, issue, successComment(o.summary, result.pull_request_url, branch, o.jobId));
  }
  return result;
}

async function openOrReusePull(
  octokit: Octokit,
  issue: PublishIssue,
  branch: string,
  title: string,
  body: string,
  baseBranch: string | undefined,
): Promise<{ html_url: string; number: number }> {
  const { owner, repo } = issue;
  let base = baseBranch;
  if (!base) {
    try {
      base = (await octokit.rest.repos.get({ owner, repo })).data.default_branch;
    } catch (err) {
      throw githubError(err, `reading repository ${owner}/${repo}`);
    }
  }
  try {
    const { data } = await octokit.rest.pulls.create({ owner, repo, title, head: branch, base, body, maintainer_can_modify: true });
    return data;
  } catch (err) {
    if ((err as { status?: number }).status !== 422) throw githubError(err, `opening a pull request on ${owner}/${repo}`);
    // 422 is also "no commits between" and "head not found": reuse only a PR that is really there.
    let open;
    try {
      ({ data: open } = await octokit.rest.pulls.list({ owner, repo, head: `${owner}:${branch}`, state: 'open', per_page: 10 }));
    } catch (listErr) {
      throw githubError(listErr, `listing the pull requests of ${owner}/${repo}`);
    }
    const existing = open.find((p) => p.head.ref === branch);
    if (existing) return existing;
    throw githubError(err, `opening a pull request from ${branch} on ${owner}/${repo}`);
  }
}

async function comment(octokit: Octokit, issue: IssueRef, body: string): Promise<string> {
  try {
    const { data } = await octokit.rest.issues.createComment({
      owner: issue.owner,
      repo: issue.repo,
      issue_number: issue.number,
      body,
    });
    return data.html_url;
  } catch (err) {
    throw githubError(err, `commenting on ${issue.owner}/${issue.repo}#${issue.number}`, { issue });
  }
}

export interface ReportFailureOptions {
  octokit: Octokit;
  issue: IssueRef;
  /** The job's end reason (`budget_exceeded`, `timeout`, `issue_not_found`, …). */
  reason: string;
  /** What went wrong, in the runner's words (secrets already redacted). */
  detail: string;
  /** Size of the partial diff kept as an artifact (0: nothing changed). */
  diffBytes: number;
  jobId?: string;
}

/** Tells the issue that the run failed, why, and how much partial work was kept. */
export async function reportFailure(o: ReportFailureOptions): Promise<{ comment_url: string }> {
  if (!Number.isInteger(o.diffBytes) || o.diffBytes < 0) {
    throw new PaddockError('validation_failed', 'diffBytes must be a non-negative integer');
  }
  return { comment_url: await comment(o.octokit, o.issue, failureComment(o.reason, o.detail, o.diffBytes, o.jobId)) };
}
