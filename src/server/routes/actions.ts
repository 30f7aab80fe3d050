import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Runtime } from '../../runtime.js';
import { ProblemView } from './schemas.js';

const RunnerView = z.object({
  job_id: z.string().describe("the Paddock job of the runner"),
  github_job: z.number().int(),
  repo: z.string(),
  state: z.enum(['queued', 'running']).describe('`queued`: waiting for a slot on this host; `running`: the runner is up (or starting)'),
});

export const ActionsPoolView = z.object({
  name: z.string(),
  labels: z.array(z.string()),
  max: z.number().int(),
  waiting: z.number().int().describe('workflow jobs held back: the pool is at its max'),
  queued: z.number().int(),
  running: z.number().int(),
  runners: z.array(RunnerView),
});

export const ActionsStatusView = z.object({
  pools: z.array(ActionsPoolView),
  unmatched: z.array(z.object({ job: z.number().int(), repo: z.string(), labels: z.array(z.string()), reason: z.string(), at: z.string() })),
});

/** Jobs listed per state at most; a pool has at most 256 runners at once. */
const LIST_LIMIT = 500;

/** `GET /v1/actions` (admin): the Actions pools, what each runs and holds back, and jobs no pool could run. */
export function actionsRoutes(app: FastifyInstance, rt: Runtime): void {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/actions',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Ephemeral Actions runners: pools and their runners',
        description: "Per pool (`actions.pools`): jobs held back at its max, this host's runners queued and running; and the newest workflow jobs no pool could run, with the reason.",
        tags: ['actions'],
        response: {
          200: ActionsStatusView,
          401: ProblemView,
          403: ProblemView,
        },
      },
    },
    async () => {
      const runners = new Map<string, z.infer<typeof RunnerView>[]>();
      for (const state of ['queued', 'running'] as const) {
        const { rows } = await rt.store.listJobs({ kind: 'actions', state, limit: LIST_LIMIT });
        for (const row of rows) {
          const labels = JSON.parse(row.labels ?? '{}') as Record<string, string>;
          const pool = labels['actions.pool'] ?? '';
          const list = runners.get(pool) ?? [];
          list.push({ job_id: row.id, github_job: Number(labels['github.job']), repo: labels['github.repo'] ?? '', state });
          runners.set(pool, list);
        }
      }
      const held = new Map(rt.actions.status().map((s) => [s.pool, s.waiting]));
      return {
        pools: rt.config.actions.pools.map((p) => {
          const mine = runners.get(p.name) ?? [];
          return {
            name: p.name,
            labels: p.labels,
            max: p.max,
            waiting: held.get(p.name) ?? 0,
            queued: mine.filter((r) => r.state === 'queued').length,
            running: mine.filter((r) => r.state === 'running').length,
            runners: mine,
          };
        }),
        unmatched: rt.actions.unmatched,
      };
    },
  );
}
