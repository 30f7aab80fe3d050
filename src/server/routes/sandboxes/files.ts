import { finished, type Readable, Transform } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PaddockError } from '../../../errors.js';
import type { Runtime } from '../../../runtime.js';
import type { Entry } from '../../../sandbox/agent/fs-ops.js';
import { SandboxPath } from '../../../sandboxes/spec.js';
import { lingerAfterAnswer } from '../../../util/linger.js';
import { ProblemView } from '../schemas.js';
import { errors, SandboxParams } from './view.js';

export const EntryView = z.object({
  name: z.string(),
  path: z.string(),
  type: z.enum(['file', 'dir', 'symlink', 'other']),
  size: z.number().int(),
  mode: z.number().int(),
  modified_at: z.string(),
  target: z.string().optional(),
});

const entryView = (e: Entry): z.infer<typeof EntryView> => ({
  name: e.name,
  path: e.path,
  type: e.type,
  size: e.size,
  mode: e.mode,
  modified_at: new Date(e.mtime_ms).toISOString(),
  ...(e.target !== undefined ? { target: e.target } : {}),
});

const PathQuery = z.strictObject({ path: SandboxPath });
const boolish = z.enum(['true', 'false', '1', '0']).optional().transform((v) => v === 'true' || v === '1');
const done = { 204: z.null().describe('done'), 409: ProblemView, 502: ProblemView, ...errors };
const tags = ['sandbox files'];

/** The body as it arrives, cut off with `413 payload_too_large` past `max` bytes (nothing is buffered). */
export function capped(source: Readable, max: number): Readable {
  let seen = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > max) cb(tooLarge(max));
      else cb(null, chunk);
    },
  });
  source.once('error', (err) => counted.destroy(err));
  source.once('aborted', () => counted.destroy(new PaddockError('validation_failed', 'the client aborted the upload')));
  return source.pipe(counted);
}

const tooLarge = (max: number) =>
  new PaddockError('payload_too_large', `the body is larger than sandboxes.max_upload_bytes (${max} bytes)`, { limit: max });

/**
 * Files inside a sandbox, all through its agent: paths are resolved by the agent
 * inside the sandbox, and the runner never builds a host path from one. The
 * boundary still checks them (absolute, no NUL, at most 4096 bytes).
 */
export function sandboxFileRoutes(app: FastifyInstance, rt: Runtime): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const max = rt.config.sandboxes.max_upload_bytes;

  // Raw bodies (any content type) are handed over as the request stream, in a context of their own.
  void app.register(async (raw) => {
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    const rr = raw.withTypeProvider<ZodTypeProvider>();

    rr.put(
      '/v1/sandboxes/:id/files',
      {
        config: { scope: 'sandboxes:write' },
        bodyLimit: max,
        schema: {
          summary: 'Upload a file (the body, streamed)',
          description:
            'Any content type. Written to a temporary file that replaces `path` once complete, so a failed upload leaves nothing. ' +
            'Larger than `sandboxes.max_upload_bytes`: `413 payload_too_large`.',
          tags,
          params: SandboxParams,
          querystring: z.strictObject({
            path: SandboxPath,
            mode: z
              .string()
              .regex(/^0?[0-7]{3,4}$/, 'must be octal permission bits such as 0644')
              .transform((m) => parseInt(m, 8))
              .optional(),
          }),
          response: { ...done, 413: ProblemView },
        },
      },
      async (request, reply) => {
        if (Number(request.headers['content-length'] ?? 0) > max) {
          lingerAfterAnswer(request.raw, reply.raw);
          throw tooLarge(max);
        }
        const body = request.body as Readable | undefined;
        const source = body ? capped(body, max) : Buffer.alloc(0);
        try {
          await rt.sandboxes.use(request.params.id, request.principal, (agent) =>
            agent.writeFile(request.query.path, source, { mode: request.query.mode }),
          );
        } catch (err) {
          // The client may still be sending: the rest is read and dropped after the answer.
          lingerAfterAnswer(request.raw, reply.raw);
          throw err;
        }
        return reply.code(204).send(null);
      },
    );

    rr.post(
      '/v1/sandboxes/:id/execs/:exec_id/stdin',
      {
        config: { scope: 'sandboxes:write' },
        bodyLimit: max,
        schema: {
          summary: 'Write to an exec’s stdin (the body, raw bytes)',
          description: 'The exec must have been started with `"stdin_stream": true`. `?eof=true` closes stdin after the body.',
          tags: ['sandboxes'],
          params: SandboxParams.extend({ exec_id: z.string().min(1).max(100) }),
          querystring: z.strictObject({ eof: boolish }),
          response: { ...done, 413: ProblemView },
        },
      },
      async (request, reply) => {
        const run = await rt.sandboxes.findExec(request.params.id, request.principal, request.params.exec_id);
        const body = request.body as Readable | undefined;
        try {
          await run.writeStdin(body ? capped(body, max) : [], request.query.eof);
        } catch (err) {
          lingerAfterAnswer(request.raw, reply.raw);
          throw err;
        }
        return reply.code(204).send(null);
      },
    );
  });

  r.get(
    '/v1/sandboxes/:id/files',
    {
      config: { scope: 'sandboxes:read' },
      schema: {
        summary: 'Download a file',
        description: 'The bytes as `application/octet-stream` with Content-Length, streamed from the sandbox.',
        tags,
        params: SandboxParams,
        querystring: PathQuery,
        response: { 200: z.any().describe('application/octet-stream'), 409: ProblemView, 502: ProblemView, ...errors },
      },
    },
    async (request, reply) =>
      rt.sandboxes.use(request.params.id, request.principal, async (agent) => {
        const file = await agent.readFile(request.query.path);
        // A reader that goes away cancels the read in the sandbox.
        reply.raw.once('close', () => file.stream.destroy());
        const ended = new Promise<void>((resolve) => finished(file.stream, () => resolve()));
        reply.header('content-length', String(file.size)).type('application/octet-stream').send(file.stream);
        await ended;
        return reply;
      }),
  );

  r.delete(
    '/v1/sandboxes/:id/files',
    {
      config: { scope: 'sandboxes:write' },
      schema: {
        summary: 'Delete a file or directory',
        description: 'A non-empty directory needs `recursive=true` (else `409 conflict`).',
        tags,
        params: SandboxParams,
        querystring: z.strictObject({ path: SandboxPath, recursive: boolish }),
        response: done,
      },
    },
    async (request, reply) => {
      const { path, recursive } = request.query;
      await rt.sandboxes.use(request.params.id, request.principal, (agent) => agent.remove(path, { recursive }));
      return reply.code(204).send(null);
    },
  );

  r.get(
    '/v1/sandboxes/:id/files/list',
    {
      config: { scope: 'sandboxes:read' },
      schema: {
        summary: 'List a directory',
        description: '`depth` levels below `path` (1–32); at most 10,000 entries, then `truncated`.',
        tags,
        params: SandboxParams,
        querystring: z.strictObject({ path: SandboxPath, depth: z.coerce.number().int().min(1).max(32).default(1) }),
        response: { 200: z.object({ entries: z.array(EntryView), truncated: z.boolean() }), 409: ProblemView, 502: ProblemView, ...errors },
      },
    },
    async (request) => {
      const { path, depth } = request.query;
      const listed = await rt.sandboxes.use(request.params.id, request.principal, (agent) => agent.list(path, { depth }));
      return { entries: listed.entries.map(entryView), truncated: listed.truncated };
    },
  );

  r.get(
    '/v1/sandboxes/:id/files/stat',
    {
      config: { scope: 'sandboxes:read' },
      schema: {
        summary: 'Stat a path (symlinks are not followed)',
        tags,
        params: SandboxParams,
        querystring: PathQuery,
        response: { 200: EntryView, 409: ProblemView, 502: ProblemView, ...errors },
      },
    },
    async (request) =>
      entryView(await rt.sandboxes.use(request.params.id, request.principal, (agent) => agent.stat(request.query.path))),
  );

  r.post(
    '/v1/sandboxes/:id/files/mkdir',
    {
      config: { scope: 'sandboxes:write' },
      schema: {
        summary: 'Make a directory',
        tags,
        params: SandboxParams,
        body: z.strictObject({ path: SandboxPath, parents: z.boolean().default(false) }),
        response: done,
      },
    },
    async (request, reply) => {
      const { path, parents } = request.body;
      await rt.sandboxes.use(request.params.id, request.principal, (agent) => agent.mkdir(path, { parents }));
      return reply.code(204).send(null);
    },
  );

  r.post(
    '/v1/sandboxes/:id/files/move',
    {
      config: { scope: 'sandboxes:write' },
      schema: {
        summary: 'Move (rename) a file or directory',
        description: 'An existing `to` is `409 conflict` unless `overwrite`.',
        tags,
        params: SandboxParams,
        body: z.strictObject({ from: SandboxPath, to: SandboxPath, overwrite: z.boolean().default(false) }),
        response: done,
      },
    },
    async (request, reply) => {
      const { from, to, overwrite } = request.body;
      await rt.sandboxes.use(request.params.id, request.principal, (agent) => agent.rename(from, to, { overwrite }));
      return reply.code(204).send(null);
    },
  );
}
