import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LANGUAGES } from '../../judge/languages.js';
import type { Runtime } from '../../runtime.js';
import { ProblemView } from './schemas.js';

const LanguageView = z.object({
  id: z.string(),
  name: z.string(),
  version: z.string().nullable().describe('as the language itself prints it, read by its last smoke test'),
  healthy: z.boolean().nullable().describe('null until its first smoke test has run; false: submissions are refused (503 language_unhealthy)'),
  checked_at: z.string().nullable(),
  error: z.string().optional(),
  judge0_id: z.number().int(),
  piston: z.object({ name: z.string(), aliases: z.array(z.string()) }),
  source_file: z.string(),
  compiled: z.boolean(),
});

/** `GET /v1/judge/languages`: what judge jobs may be written in, and whether each works right now. */
export function judgeRoutes(app: FastifyInstance, rt: Runtime): void {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/judge/languages',
    {
      config: { scope: 'jobs:read' },
      schema: {
        summary: 'Judge languages and their health',
        tags: ['judge'],
        response: { 200: z.object({ languages: z.array(LanguageView) }), 401: ProblemView, 403: ProblemView },
      },
    },
    async () => {
      const status = new Map(rt.judge.list().map((s) => [s.id, s]));
      return {
        languages: LANGUAGES.map((l) => {
          const s = status.get(l.id);
          return {
            id: l.id,
            name: l.name,
            version: s?.version ?? null,
            healthy: s?.healthy ?? null,
            checked_at: s?.checked_at ?? null,
            ...(s?.error ? { error: s.error } : {}),
            judge0_id: l.judge0Id,
            piston: l.piston,
            source_file: l.sourceFile,
            compiled: l.compile !== undefined,
          };
        }),
      };
    },
  );
}
