import { createHmac, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';

/**
 * Webhook deliveries as GitHub sends them: the payload shapes of `@octokit/webhooks-examples`
 * (real deliveries collected by Octokit), re-pointed at a test's repository and issue, and signed
 * with `X-Hub-Signature-256: sha256=<HMAC-SHA256(secret, body)>`.
 */

type Definition = { name: string; examples: Array<Record<string, any>> };
const definitions = createRequire(import.meta.url)('@octokit/webhooks-examples') as Definition[];

/** A deep copy of the first example of `event` with this `action` (any, for events without actions). */
export function example(event: string, action?: string): Record<string, any> {
  const found = definitions.find((d) => d.name === event)?.examples.find((e) => action === undefined || e.action === action);
  if (!found) throw new Error(`@octokit/webhooks-examples has no ${event}.${action}`);
  return structuredClone(found);
}

export interface PayloadTarget {
  /** `owner/repo`. */
  repo: string;
  number: number;
}

function retarget(p: Record<string, any>, t: PayloadTarget): Record<string, any> {
  const [owner, name] = t.repo.split('/') as [string, string];
  Object.assign(p.repository, { name, full_name: t.repo });
  p.repository.owner.login = owner;
  Object.assign(p.issue, { number: t.number, state: 'open', html_url: `https://github.com/${t.repo}/issues/${t.number}` });
  delete p.issue.pull_request;
  return p;
}

export function issueLabeled(t: PayloadTarget & { label: string; sender?: string }): Record<string, any> {
  const p = retarget(example('issues', 'labeled'), t);
  p.label.name = t.label;
  p.issue.labels = [{ ...p.label }];
  if (t.sender) p.sender.login = t.sender;
  return p;
}

export function issueOpened(
  t: PayloadTarget & { title?: string; body?: string; labels?: string[]; association?: string; user?: { login: string; type?: string } },
): Record<string, any> {
  const p = retarget(example('issues', 'opened'), t);
  if (t.title !== undefined) p.issue.title = t.title;
  if (t.body !== undefined) p.issue.body = t.body;
  p.issue.labels = (t.labels ?? []).map((name, i) => ({ id: i + 1, name, color: 'ededed', default: false }));
  if (t.association) p.issue.author_association = t.association;
  if (t.user) Object.assign(p.issue.user, t.user);
  return p;
}

export function issueCommentCreated(
  t: PayloadTarget & { body: string; association?: string; user?: { login: string; type?: string }; commentId?: number; pullRequest?: boolean },
): Record<string, any> {
  const p = retarget(example('issue_comment', 'created'), t);
  p.comment.body = t.body;
  if (t.commentId !== undefined) p.comment.id = t.commentId;
  if (t.association) p.comment.author_association = t.association;
  if (t.user) Object.assign(p.comment.user, t.user);
  if (t.pullRequest) p.issue.pull_request = { url: `https://api.github.com/repos/${t.repo}/pulls/${t.number}` };
  return p;
}

export function sign(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface Delivery {
  status: number;
  body: any;
  delivery: string;
  ms: number;
}

/** POSTs a delivery as GitHub's hookshot does (headers, JSON body, both signatures). */
export async function deliverWebhook(
  url: string,
  secret: string,
  event: string,
  payload: unknown,
  opts: { delivery?: string; signature?: string | null; body?: string; contentType?: string } = {},
): Promise<Delivery> {
  const delivery = opts.delivery ?? randomUUID();
  const body = opts.body ?? JSON.stringify(payload);
  const headers: Record<string, string> = {
    'content-type': opts.contentType ?? 'application/json',
    'user-agent': 'GitHub-Hookshot/a1b2c3d',
    'x-github-event': event,
    'x-github-delivery': delivery,
    'x-github-hook-id': '123456',
    'x-github-hook-installation-target-type': 'repository',
    'x-github-hook-installation-target-id': '1',
    'x-hub-signature': `sha1=${createHmac('sha1', secret).update(body).digest('hex')}`,
  };
  const signature = opts.signature === undefined ? sign(secret, body) : opts.signature;
  if (signature !== null) headers['x-hub-signature-256'] = signature;
  const started = performance.now();
  const res = await fetch(url, { method: 'POST', headers, body });
  const text = await res.text();
  const ms = performance.now() - started;
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, delivery, ms };
}
