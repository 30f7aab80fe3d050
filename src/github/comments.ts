import { cleanText, truncateUtf8 } from './text.js';

/**
 * Every comment Paddock writes carries this (invisible in GitHub's rendering), so the webhook
 * never takes Paddock's own comment for a request and readIssue leaves it out of the prompt.
 */
export const PADDOCK_COMMENT_MARKER = '<!-- paddock:agent -->';

export function isPaddockComment(body: string): boolean {
  return body.includes(PADDOCK_COMMENT_MARKER);
}

export interface RunSummary {
  num_turns: number;
  total_cost_usd: number;
  subtype: string;
  duration_ms: number;
  changed_files: string[];
}

const MAX_FILES_LISTED = 20;

export function formatCost(usd: number): string {
  return `$${(Number.isFinite(usd) ? usd : 0).toFixed(usd < 1 ? 4 : 2)}`;
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** A file name as Markdown code, whatever it holds (a backtick run longer than any inside). */
function code(text: string): string {
  const clean = cleanText(text).replace(/\n/g, ' ');
  const longest = Math.max(0, ...(clean.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  return `${fence} ${clean} ${fence}`;
}

/** Lines shared by the PR body and the issue comment. */
export function summaryLines(s: RunSummary): string[] {
  const files = s.changed_files.slice(0, MAX_FILES_LISTED).map((f) => `- ${code(f)}`);
  if (s.changed_files.length > MAX_FILES_LISTED) files.push(`- … and ${s.changed_files.length - MAX_FILES_LISTED} more`);
  return [
    `| turns | cost | time | result |`,
    `| --- | --- | --- | --- |`,
    `| ${s.num_turns} | ${formatCost(s.total_cost_usd)} | ${formatDuration(s.duration_ms)} | ${code(s.subtype)} |`,
    '',
    `Changed files (${s.changed_files.length}):`,
    ...files,
  ];
}

export function pullRequestBody(issueNumber: number, s: RunSummary, jobId?: string): string {
  return [
    `Fixes #${issueNumber}`,
    '',
    `Made by Paddock's agent${jobId ? ` (job ${code(jobId)})` : ''} from the issue; review it as you would any contribution.`,
    '',
    ...summaryLines(s),
    '',
    PADDOCK_COMMENT_MARKER,
  ].join('\n');
}

export function successComment(s: RunSummary, prUrl: string | undefined, branch: string, jobId?: string): string {
  return [
    prUrl ? `Paddock opened a pull request for this issue: ${prUrl}` : `Paddock pushed its work to the branch ${code(branch)}.`,
    '',
    ...summaryLines(s),
    ...(jobId ? ['', `Job: ${code(jobId)}`] : []),
    '',
    PADDOCK_COMMENT_MARKER,
  ].join('\n');
}

/** The failure's detail is the runner's text (already free of secrets); it still goes in a fence that it cannot close. */
export function failureComment(reason: string, detail: string, diffBytes: number, jobId?: string): string {
  const text = truncateUtf8(cleanText(detail), 2000).text;
  const longest = Math.max(2, ...(text.match(/~+/g) ?? []).map((r) => r.length));
  const fence = '~'.repeat(longest + 1);
  const kept =
    diffBytes > 0
      ? `The partial work (a diff of ${diffBytes} bytes) is kept as the job's \`diff.patch\` artifact.`
      : 'The agent had changed nothing when it stopped.';
  return [
    `Paddock could not finish this issue: ${code(reason)}.`,
    '',
    fence,
    text || '(no detail)',
    fence,
    '',
    kept,
    ...(jobId ? ['', `Job: ${code(jobId)}`] : []),
    '',
    PADDOCK_COMMENT_MARKER,
  ].join('\n');
}
