import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AgentJobSpec } from '../../agents/spec.js';
import { PaddockError } from '../../errors.js';
import { workflowJobEvent } from '../../actions/workflow-job.js';
import { type Trigger, triggerOf, verifySignature } from '../../github/webhook.js';
import type { Runtime } from '../../runtime.js';
import type { RequestLane } from '../request-lane.js';
import { ProblemView } from './schemas.js';

/** GitHub caps a delivery's payload at 25 MB. */
export const WEBHOOK_BODY_LIMIT = 25 * 1024 * 1024;
/** GitHub lets a delivery be redelivered for a few days; ids are kept a week. */
const DELIVERY_KEEP_MS = 7 * 24 * 3600_000;
const PRUNE_EVERY_MS = 3600_000;

const EVENT_RE = /^[a-z_]{1,64}$/;
const DELIVERY_RE = /^[A-Za-z0-9-]{1,100}$/;

const Answer = z.object({
  status: z.enum(['accepted', 'ignored', 'duplicate']),
  delivery: z.string(),
});

export interface WebhookDeps {
  /** Submits an agent job spec (validated by the callee); the runtime's agent kind provides it. */
  submitAgentJob?: (spec: unknown) => Promise<{ id: string }>;
}

/** The agent job a trigger asks for. */
export function webhookJobSpec(trigger: Trigger, delivery: string): Record<string, unknown> {
  const { owner, repo, number } = trigger.issue;
  return {
    kind: 'agent',
    github_issue: `${owner}/${repo}#${number}`,
    ...(trigger.comment_id !== undefined ? { github_comment_id: trigger.comment_id } : {}),
    output: { diff: true, pull_request: true, issue_comment: true },
    labels: { 'github.delivery': delivery, ...(trigger.sender ? { 'github.sender': trigger.sender.slice(0, 100) } : {}) },
  };
}

/**
 * `POST /v1/github/webhook`: GitHub calls it, so there is no bearer token; the delivery's
 * HMAC signature over the raw body is the authentication, checked before the body is parsed.
 * A triggering delivery is recorded by its `X-GitHub-Delivery` (a redelivery starts nothing) and
 * answered 202 at once; the job is submitted after the answer, as GitHub waits at most 10 s.
 */
export function githubWebhookRoutes(app: FastifyInstance, rt: Runtime, lane: RequestLane, deps: WebhookDeps = {}): void {
  const log = rt.log.child({ component: 'github-webhook' });
  const submit =
    deps.submitAgentJob ??
    (async (spec: unknown) => {
      const { row } = await rt.scheduler.submit(AgentJobSpec.parse(spec), { tokenId: null });
      return { id: row.id };
    });
  let prunedAt = 0;

  /** An issue or comment that asks for the agent: its job, once the answer has gone. */
  const agentStart = (payload: unknown, event: string, delivery: string) => {
    const trigger = triggerOf(event, payload, rt.config.github);
    if (!trigger) return undefined;
    const issue = `${trigger.issue.owner}/${trigger.issue.repo}#${trigger.issue.number}`;
    return async () => {
      const { id } = await submit(webhookJobSpec(trigger, delivery));
      log.info({ delivery, event, issue, jobId: id }, 'webhook started an agent job');
      return id;
    };
  };
  /** A queued workflow job, when this runner has Actions pools: an ephemeral runner for it (src/actions/). */
  const actionsStart = (payload: unknown) => {
    const ev = rt.actions.enabled ? workflowJobEvent(payload) : undefined;
    if (ev?.action !== 'queued') return undefined;
    return async () => {
      const offered = await rt.actions.offer(ev.job, 'webhook');
      return 'jobId' in offered ? offered.jobId : undefined;
    };
  };

  void app.register(async (scoped) => {
    scoped.removeAllContentTypeParsers();
    // GitHub sends JSON, or the same JSON as a form field `payload` when the hook is set to form encoding.
    scoped.addContentTypeParser(['application/json', 'application/x-www-form-urlencoded'], { parseAs: 'buffer' }, (_r, body, done) =>
      done(null, body),
    );
    scoped.withTypeProvider<ZodTypeProvider>().post(
      '/v1/github/webhook',
      {
        bodyLimit: WEBHOOK_BODY_LIMIT,
        // Unauthenticated but not free: deliveries wait their turn in the request lane, as one caller.
        onRequest: async (request: FastifyRequest) => {
          if (!rt.config.github.webhook_secret) {
            throw new PaddockError('not_found', 'no route POST /v1/github/webhook (github.webhook_secret is not set)');
          }
          checkHeaders(request);
          await lane.enter('github-webhook');
        },
        schema: {
          summary: 'GitHub webhook deliveries',
          description:
            'Signed by GitHub (`X-Hub-Signature-256`, the secret `github.webhook_secret`; without one the route is `404`). ' +
            'An issue labelled `github.trigger_label`, or an issue or comment mentioning `github.trigger_phrase`, starts an agent ' +
            'job on it; a queued `workflow_job` that an Actions pool of this runner fits, an ephemeral runner: `202 accepted`; ' +
            'a redelivery `202 duplicate`; anything else `202 ignored`. A bad signature is `401`.',
          tags: ['github'],
          security: [],
          response: { 202: Answer, 400: ProblemView, 401: ProblemView, 404: ProblemView, 413: ProblemView, 415: ProblemView, 429: ProblemView },
        },
      },
      async (request, reply) => {
        const delivery = request.headers['x-github-delivery'] as string;
        const event = request.headers['x-github-event'] as string;
        const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        if (!verifySignature(rt.config.github.webhook_secret, raw, request.headers['x-hub-signature-256'])) {
          throw new PaddockError('unauthorized', 'the X-Hub-Signature-256 of this delivery does not match github.webhook_secret');
        }
        const payload = parsePayload(raw, request.headers['content-type']);
        const start = event === 'workflow_job' ? actionsStart(payload) : agentStart(payload, event, delivery);
        if (!start) return reply.code(202).send({ status: 'ignored' as const, delivery });

        rt.storage.checkSubmit();
        const now = Date.now();
        if (now - prunedAt > PRUNE_EVERY_MS) {
          prunedAt = now;
          void rt.store
            .pruneGithubDeliveries(new Date(now - DELIVERY_KEEP_MS).toISOString())
            .catch((err) => log.warn({ err }, 'pruning old webhook deliveries failed'));
        }
        const fresh = await rt.store.recordGithubDelivery({ id: delivery, event, received_at: new Date(now).toISOString() });
        if (!fresh) return reply.code(202).send({ status: 'duplicate' as const, delivery });

        // After the answer has gone: GitHub is not kept waiting on the submit.
        setImmediate(() => {
          start()
            .then(async (jobId) => {
              if (jobId) await rt.store.setGithubDeliveryJob(delivery, jobId);
            })
            .catch(async (err: unknown) => {
              log.error({ err, delivery, event }, 'webhook could not start a job');
              // Forgotten, so GitHub's "Redeliver" can try again.
              await rt.store.forgetGithubDelivery(delivery).catch(() => {});
            });
        });
        return reply.code(202).send({ status: 'accepted' as const, delivery });
      },
    );
  });
}

function checkHeaders(request: FastifyRequest): void {
  const event = request.headers['x-github-event'];
  const delivery = request.headers['x-github-delivery'];
  if (typeof event !== 'string' || !EVENT_RE.test(event)) {
    throw new PaddockError('validation_failed', 'X-GitHub-Event must name a GitHub event', { field: 'x-github-event' });
  }
  if (typeof delivery !== 'string' || !DELIVERY_RE.test(delivery)) {
    throw new PaddockError('validation_failed', 'X-GitHub-Delivery must be a delivery id', { field: 'x-github-delivery' });
  }
  if (typeof request.headers['x-hub-signature-256'] !== 'string') {
    throw new PaddockError('unauthorized', 'X-Hub-Signature-256 is missing (set a secret on the GitHub webhook)');
  }
}

function parsePayload(raw: Buffer, contentType: string | undefined): unknown {
  let text = raw.toString('utf8');
  if (contentType?.startsWith('application/x-www-form-urlencoded')) text = new URLSearchParams(text).get('payload') ?? '';
  try {
    return JSON.parse(text);
  } catch {
    throw new PaddockError('validation_failed', 'the delivery body is not JSON');
  }
}
