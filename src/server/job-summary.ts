import { ActionsResult } from '../actions/spec.js';
import { z } from 'zod';
import type { JobRow, JobSummaryRow } from '../store/store.js';
import { AgentResult } from '../agents/result.js';
import { JudgeResult } from '../judge/result.js';
import { actionsResult, agentResult, JobResultView, JobView, jobView, parseStored } from './job-view.js';

/** A result without its output: exit status, truncation flags, wall/cpu/rss and the limit hit stay. */
export const JobResultSummary = JobResultView.omit({ stdout: true, stderr: true });

/** What list pages carry per job. Output is only in `GET /v1/jobs/:id` and the event stream. */
/** A judge job's verdict and counts; each test's output only in `GET /v1/jobs/:id`. */
export const JudgeResultSummary = JudgeResult.omit({ tests: true });

export const JobSummaryView = JobView.extend({ result: z.union([JobResultSummary, AgentResult, JudgeResultSummary, ActionsResult]).optional() });
export type JobSummaryView = z.infer<typeof JobSummaryView>;

/** A list page stops adding jobs past this many bytes (64 labels of 1 KB each are allowed per job). */
export const LIST_PAGE_BYTES = 4 * 1024 * 1024;

export function jobSummary(row: JobSummaryRow): JobSummaryView {
  // jobView reads only columns a summary row has; its spec is already trimmed to image and limits.
  const { result: _full, ...view } = jobView({ ...row, result: null } as JobRow);
  if (row.kind === 'judge') {
    const result = parseStored(row.result, JudgeResultSummary);
    return { ...view, ...(result ? { result } : {}) };
  }
  if (row.kind === 'actions') return { ...view, ...actionsResult(row.result) };
  return { ...view, ...(row.kind === 'agent' ? agentResult(row.result) : summaryResult(row.result)) };
}

function summaryResult(text: string | null): { result?: z.infer<typeof JobResultSummary> } {
  const result = parseStored(text, JobResultSummary);
  return result ? { result } : {};
}

/**
 * Summaries of `rows` until the page would pass LIST_PAGE_BYTES (at least one),
 * and the cursor to continue after the last one given.
 */
export function summaryPage(
  rows: JobSummaryRow[],
  next: string | null,
): { jobs: JobSummaryView[]; next_cursor: string | null } {
  const jobs: JobSummaryView[] = [];
  let bytes = 0;
  for (const row of rows) {
    const job = jobSummary(row);
    bytes += Buffer.byteLength(JSON.stringify(job));
    if (jobs.length > 0 && bytes > LIST_PAGE_BYTES) return { jobs, next_cursor: jobs.at(-1)!.id };
    jobs.push(job);
  }
  return { jobs, next_cursor: next };
}
