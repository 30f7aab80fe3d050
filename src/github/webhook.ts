import { createHmac, timingSafeEqual } from 'node:crypto';
import { type IssueRef, parseIssueRef } from '../agents/grammar.js';
import type { GithubConfig } from '../config/github.js';
import { isPaddockComment } from './comments.js';

const SIGNATURE_RE = /^sha256=([0-9a-f]{64})$/;

/**
 * Checks `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>` in constant time.
 * A missing, malformed or wrong-length header is simply false.
 */
export function verifySignature(secret: string, rawBody: Buffer | string, header: string | string[] | undefined): boolean {
  if (!secret || typeof header !== 'string') return false;
  const m = SIGNATURE_RE.exec(header.trim().toLowerCase());
  if (!m) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  const given = Buffer.from(m[1]!, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export interface Trigger {
  issue: IssueRef;
  /** Id of the comment that asked for the job (issue_comment), for the prompt. */
  comment_id?: number;
  /** Its text (untrusted; bounded by GitHub's 65536 characters per comment). */
  comment?: string;
  /** Who asked: the commenter, the labeller or the issue's author. */
  sender: string;
}

/**
 * Who may start a paid agent run by writing the trigger phrase: people with a role in the
 * repository, as GitHub reports it. Labelling needs triage access already, so it is not checked.
 */
const TRUSTED_ASSOCIATIONS = new Set(['OWNER', 'MEMBER', 'COLLABORATOR']);

interface User {
  login?: unknown;
  type?: unknown;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function isBot(user: unknown): boolean {
  const u = obj(user) as User | undefined;
  return str(u?.type) === 'Bot' || str(u?.login).endsWith('[bot]');
}

/** The phrase as a word of its own: `@paddock please`, not `@paddockbot` or `me@paddock.dev`. */
export function mentions(text: string, phrase: string): boolean {
  const escaped = phrase.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^\\w@.-])${escaped}(?![\\w-])`, 'i').test(text);
}

/**
 * The agent job a webhook delivery asks for, or null. Starts a job: `issues.labeled` with
 * `trigger_label`; `issues.opened` whose title or body mentions `trigger_phrase` (an issue opened
 * with the label already gets a `labeled` delivery of its own, so `opened` leaves it to that);
 * `issue_comment.created` mentioning the phrase. Never: pull requests (their comments arrive as
 * issue_comment too), closed issues, bots (Paddock's App among them) and Paddock's own comments,
 * repositories outside `allowed_repos`, and a phrase from someone without a role in the repository.
 */
export function triggerOf(event: string, payload: unknown, config: GithubConfig): Trigger | null {
  const p = obj(payload);
  const issue = obj(p?.issue);
  const repository = obj(p?.repository);
  if (!p || !issue || !repository) return null;
  if (issue.pull_request !== undefined || str(issue.state) !== 'open') return null;
  const ref = issueRefOf(str(repository.full_name), issue.number);
  if (!ref || !repoAllowed(config, ref)) return null;
  const action = str(p.action);

  if (event === 'issues' && action === 'labeled') {
    if (str(obj(p.label)?.name) !== config.trigger_label) return null;
    return { issue: ref, sender: str(obj(p.sender)?.login) };
  }
  if (event === 'issues' && action === 'opened') {
    const labels = Array.isArray(issue.labels) ? issue.labels : [];
    if (labels.some((l) => str(obj(l)?.name) === config.trigger_label)) return null;
    if (isBot(issue.user) || !TRUSTED_ASSOCIATIONS.has(str(issue.author_association))) return null;
    if (!mentions(`${str(issue.title)}\n${str(issue.body)}`, config.trigger_phrase)) return null;
    return { issue: ref, sender: str(obj(issue.user)?.login) };
  }
  if (event === 'issue_comment' && action === 'created') {
    const comment = obj(p.comment);
    const body = str(comment?.body);
    if (!comment || isBot(comment.user) || isPaddockComment(body)) return null;
    if (!TRUSTED_ASSOCIATIONS.has(str(comment.author_association)) || !mentions(body, config.trigger_phrase)) return null;
    const id = comment.id;
    return {
      issue: ref,
      ...(typeof id === 'number' && Number.isSafeInteger(id) && id > 0 ? { comment_id: id } : {}),
      comment: body,
      sender: str(obj(comment.user)?.login),
    };
  }
  return null;
}

function issueRefOf(fullName: string, number: unknown): IssueRef | null {
  if (typeof number !== 'number') return null;
  try {
    return parseIssueRef(`${fullName}#${number}`);
  } catch {
    return null;
  }
}

/** GitHub names are case-insensitive. */
function repoAllowed(config: GithubConfig, ref: IssueRef): boolean {
  if (config.allowed_repos.length === 0) return true;
  const name = `${ref.owner}/${ref.repo}`.toLowerCase();
  return config.allowed_repos.some((r) => r.toLowerCase() === name);
}
