import type { Duplex } from 'node:stream';
import type { Usage } from './proxy/usage.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../util/log.js';
import type { ArtifactStore } from './artifacts.js';
import type { IssueRef } from './grammar.js';
import type { AgentBudget } from './spec.js';

/** Model use of one job, as the proxy counted it. */
export type ProxyUsage = Usage;

/** One job's side of the model proxy (src/agents/model-proxy.ts). */
export interface ProxySessionLike {
  handle(socket: Duplex): void;
  readonly usage: ProxyUsage;
  readonly overBudget: Promise<string>;
  readonly lastError: { status: number; type: string; message: string } | null;
  close(): void;
}

export interface GitAuthLike {
  header: string;
}

/** The repository cache (src/agents/repo-cache.ts). */
export interface RepoSource {
  checkout(
    url: string,
    ref: string | undefined,
    dest: string,
    opts?: { auth?: GitAuthLike | undefined; signal?: AbortSignal },
  ): Promise<{ commit: string; ref: string }>;
}

export interface PublishRequest {
  repoUrl: string;
  /** The issue, with the title read when the job began (the PR's title). */
  issue: IssueRef & { title?: string };
  baseCommit: string;
  patch: Buffer;
  branch: string | undefined;
  pullRequest: boolean;
  comment: boolean;
  summary: { num_turns: number | null; total_cost_usd: number; subtype: string | null; duration_ms: number | null; changed_files: string[] };
  signal: AbortSignal;
  jobId: string;
}

/** GitHub, as agent jobs use it (src/agents/github-bridge.ts over src/github/). */
export interface AgentGithub {
  /** The issue as the agent's prompt (with the comment that triggered the job, if any), and the repository it belongs to. */
  prepare(ref: IssueRef, signal: AbortSignal, opts?: { triggerCommentId?: number }): Promise<{ prompt: string; repoUrl: string; title: string }>;
  /** Credentials for git at `url`, when it is on this GitHub. */
  gitAuth(url: string): Promise<GitAuthLike | undefined>;
  publish(req: PublishRequest): Promise<{ branch: string; commit: string; pull_request_url?: string; comment_url?: string }>;
  /** Pushes a branch of a repository that is not an issue's (output.branch with repo_url). */
  pushBranch(req: { repoUrl: string; baseCommit: string; patch: Buffer; branch: string; signal: AbortSignal; jobId: string }): Promise<{ commit: string }>;
  reportFailure(req: { issue: IssueRef; reason: string; detail: string; diffBytes: number; jobId: string }): Promise<void>;
}

export interface AgentServices {
  config: Config;
  artifacts: ArtifactStore;
  repos: RepoSource;
  /** `onActivity`: each request and each chunk of an answer (a long model turn is not idle). */
  proxy: { session(jobId: string, budget: AgentBudget | undefined, onActivity?: () => void): ProxySessionLike };
  github: AgentGithub | null;
  /** Secret values to keep out of every event and artifact (model credentials, GitHub token). */
  secrets(): string[];
  log: Logger;
}
