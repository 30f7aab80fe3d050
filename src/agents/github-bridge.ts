import type { Config } from '../config/schema.js';
import { githubClientFor, gitAuth, type Octokit } from '../github/client.js';
import { issuePrompt, readIssue } from '../github/issue.js';
import { publishSuccess, reportFailure } from '../github/publish.js';
import type { Logger } from '../util/log.js';
import type { IssueRef } from './grammar.js';
import type { RepoCache } from './repo-cache.js';
import type { AgentGithub, GitAuthLike, PublishRequest } from './services.js';

const REPO_PATH_RE = /^\/([A-Za-z0-9-]{1,39})\/([A-Za-z0-9_.-]{1,100}?)(?:\.git)?\/?$/;

/** Agent jobs' use of GitHub (src/github/): the issue as a prompt, credentials for git, the PR and comments. */
export class GithubBridge implements AgentGithub {
  /** Tokens handed to git so far (App installation tokens change), to keep out of events and artifacts. */
  private readonly seen = new Set<string>();

  constructor(
    private readonly config: Config,
    private readonly repos: RepoCache,
    private readonly log: Logger,
  ) {}

  secrets(): string[] {
    return [...this.seen];
  }

  private client(ref: { owner: string; repo: string }): Promise<Octokit> {
    return githubClientFor(this.config.github, this.log, ref);
  }

  /** `<git_url>/<owner>/<repo>.git`, the repository an issue belongs to. */
  repoUrl(ref: { owner: string; repo: string }): string {
    return `${this.config.github.git_url.replace(/\/+$/, '')}/${ref.owner}/${ref.repo}.git`;
  }

  async prepare(ref: IssueRef, _signal: AbortSignal, opts: { triggerCommentId?: number } = {}) {
    const issue = await readIssue(await this.client(ref), ref, opts);
    return { prompt: issuePrompt(issue), repoUrl: this.repoUrl(ref), title: issue.title };
  }

  /** Credentials only for repositories on this GitHub: a token never goes to another host. */
  async gitAuth(url: string): Promise<GitAuthLike | undefined> {
    const repo = this.repoOf(url);
    if (!repo) return undefined;
    const auth = await gitAuth(await this.client(repo));
    const token = Buffer.from(auth.header.replace(/^Authorization: Basic /i, ''), 'base64').toString('utf8').split(':')[1];
    if (token) this.seen.add(token);
    return auth;
  }

  private repoOf(url: string): { owner: string; repo: string } | undefined {
    const base = new URL(this.config.github.git_url);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return undefined;
    }
    const prefix = base.pathname.replace(/\/+$/, '');
    if (u.origin !== base.origin || !u.pathname.startsWith(`${prefix}/`)) return undefined;
    const m = REPO_PATH_RE.exec(u.pathname.slice(prefix.length));
    return m ? { owner: m[1]!, repo: m[2]! } : undefined;
  }

  async publish(req: PublishRequest) {
    const octokit = await this.client(req.issue);
    const auth = await this.gitAuth(req.repoUrl);
    const r = await publishSuccess({
      octokit,
      repoCache: this.repos,
      repoUrl: req.repoUrl,
      auth: auth ?? undefined,
      issue: { owner: req.issue.owner, repo: req.issue.repo, number: req.issue.number, title: req.issue.title ?? `issue #${req.issue.number}` },
      baseCommit: req.baseCommit,
      patch: req.patch,
      summary: {
        num_turns: req.summary.num_turns ?? 0,
        total_cost_usd: req.summary.total_cost_usd,
        subtype: req.summary.subtype ?? 'unknown',
        duration_ms: req.summary.duration_ms ?? 0,
        changed_files: req.summary.changed_files,
      },
      pullRequest: req.pullRequest,
      comment: req.comment,
      ...(req.branch ? { branch: req.branch } : {}),
      jobId: req.jobId,
      signal: req.signal,
    });
    return r;
  }

  async pushBranch(req: { repoUrl: string; baseCommit: string; patch: Buffer; branch: string; signal: AbortSignal; jobId: string }) {
    const auth = await this.gitAuth(req.repoUrl);
    return this.repos.pushPatch({
      url: req.repoUrl,
      base: req.baseCommit,
      patch: req.patch,
      branch: req.branch,
      message: `Paddock agent job ${req.jobId}`,
      author: { name: 'Paddock', email: 'paddock@users.noreply.github.com' },
      ...(auth ? { auth } : {}),
      signal: req.signal,
    });
  }

  async reportFailure(req: { issue: IssueRef; reason: string; detail: string; diffBytes: number; jobId: string }): Promise<void> {
    await reportFailure({ octokit: await this.client(req.issue), ...req });
  }
}
