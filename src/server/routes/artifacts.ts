import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ARTIFACTS } from '../../agents/artifacts.js';
import { getOwnJob } from '../../auth/ownership.js';
import type { Runtime } from '../../runtime.js';
import { ProblemView } from './schemas.js';

const names = Object.keys(ARTIFACTS) as [keyof typeof ARTIFACTS, ...(keyof typeof ARTIFACTS)[]];
const ArtifactView = z.object({
  name: z.enum(names),
  size: z.number().int(),
  content_type: z.string(),
  truncated: z.boolean().describe('cut at agents.max_artifact_bytes'),
});
const errors = { 401: ProblemView, 403: ProblemView, 404: ProblemView };

/** A job's artifacts (an agent job's diff, changed files, final text and transcript). */
export function artifactRoutes(app: FastifyInstance, rt: Runtime): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/v1/jobs/:id/artifacts',
    {
      config: { scope: 'jobs:read' },
      schema: {
        summary: "List a job's artifacts",
        tags: ['jobs'],
        params: z.object({ id: z.string().min(1).max(100) }),
        response: { 200: z.object({ artifacts: z.array(ArtifactView) }), ...errors },
      },
    },
    async (request) => {
      const job = await getOwnJob(rt.store, request.principal, request.params.id);
      return { artifacts: await rt.artifacts.list(job.id) };
    },
  );

  r.get(
    '/v1/jobs/:id/artifacts/:name',
    {
      config: { scope: 'jobs:read' },
      schema: {
        summary: 'Download one artifact',
        description: `Artifacts: ${names.join(', ')}. The body is the file as stored; \`X-Paddock-Truncated: true\` when it was cut.`,
        tags: ['jobs'],
        params: z.object({ id: z.string().min(1).max(100), name: z.string().min(1).max(100) }),
        response: errors,
      },
    },
    async (request, reply) => {
      const job = await getOwnJob(rt.store, request.principal, request.params.id);
      const { info, stream } = await rt.artifacts.open(job.id, request.params.name);
      reply
        .header('content-type', info.content_type)
        .header('content-length', String(info.size))
        .header('content-disposition', `attachment; filename="${info.name}"`)
        .header('x-content-type-options', 'nosniff');
      if (info.truncated) reply.header('x-paddock-truncated', 'true');
      return reply.send(stream as never);
    },
  );
}
