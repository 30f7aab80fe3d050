import { randomBytes } from 'node:crypto';
import { finished, Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PaddockError, toPaddockError } from '../../../errors.js';
import type { Runtime } from '../../../runtime.js';
import type { AgentClient } from '../../../sandbox/agent/agent-client.js';
import { lingerAfterAnswer } from '../../../util/linger.js';
import { errorBody } from './errors.js';
import { fileInfo, sandboxPath } from './file-info.js';
import { boundaryOf, partHead } from './multipart.js';
import { bulkUpload } from './upload.js';

const Params = z.object({ id: z.string().min(1).max(100) });
const RawPath = z.string().min(1).max(4096);
const boolish = z.enum(['true', 'false']).optional().transform((v) => v === 'true');
const tags = ['compat'];

/**
 * The parts of a bulk download (FileSystem.downloadFiles): each path as a `file` part named by the
 * path asked for, or an `error` part whose JSON the SDK turns into its error class. Read one file
 * at a time, each streamed from the sandbox at the reader's pace.
 */
async function* downloadParts(agent: AgentClient, cwd: string, paths: string[], boundary: string): AsyncGenerator<Buffer> {
  for (const asked of paths) {
    let file;
    try {
      file = await agent.readFile(sandboxPath(cwd, asked));
    } catch (err) {
      yield partHead(boundary, 'error', asked, 'application/json');
      yield Buffer.from(`${JSON.stringify(errorBody(toPaddockError(err), 'DAYTONA_DAEMON'))}\r\n`);
      continue;
    }
    yield partHead(boundary, 'file', asked, 'application/octet-stream', file.size);
    for await (const chunk of file.stream as AsyncIterable<Buffer>) yield chunk;
    yield Buffer.from('\r\n');
  }
  yield Buffer.from(`--${boundary}--\r\n`);
}

/** `<toolbox>/:id/files…` and the working directory, all through the sandbox's agent. */
export function daytonaFileRoutes(app: FastifyInstance, rt: Runtime): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const max = rt.config.sandboxes.max_upload_bytes;
  const use = <T>(id: string, request: { principal: Parameters<typeof rt.sandboxes.use>[1] }, fn: (agent: AgentClient, cwd: string) => Promise<T>) =>
    rt.sandboxes.use(id, request.principal, (agent, live) => fn(agent, live.row.spec.cwd));

  void app.register(async (raw) => {
    // The multipart body is read as it arrives (upload.ts), never buffered whole.
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    raw.withTypeProvider<ZodTypeProvider>().post(
      '/:id/files/bulk-upload',
      { config: { scope: 'sandboxes:write' }, bodyLimit: max, schema: { summary: 'Upload files (Daytona compatible)', tags, params: Params } },
      async (request, reply) => {
        try {
          if (Number(request.headers['content-length'] ?? 0) > max) {
            throw new PaddockError('payload_too_large', `the body is larger than sandboxes.max_upload_bytes (${max} bytes)`, { limit: max });
          }
          const boundary = boundaryOf(request.headers['content-type']);
          const body = (request.body as Readable | undefined) ?? Readable.from([]);
          await use(request.params.id, request, (agent, cwd) => bulkUpload(agent, cwd, body, boundary, max));
        } catch (err) {
          // The client may still be sending: the rest is read and dropped after the answer.
          lingerAfterAnswer(request.raw, reply.raw);
          throw err;
        }
        return reply.code(200).send(null);
      },
    );
  });

  r.post(
    '/:id/files/bulk-download',
    {
      config: { scope: 'sandboxes:read' },
      schema: { summary: 'Download files as multipart (Daytona compatible)', tags, params: Params, body: z.looseObject({ paths: z.array(RawPath).min(1).max(1000) }) },
    },
    async (request, reply) =>
      use(request.params.id, request, async (agent, cwd) => {
        const boundary = `paddock-${randomBytes(12).toString('hex')}`;
        const stream = Readable.from(downloadParts(agent, cwd, request.body.paths, boundary));
        reply.raw.once('close', () => stream.destroy());
        const ended = new Promise<void>((resolve) => finished(stream, () => resolve()));
        reply.type(`multipart/form-data; boundary=${boundary}`).send(stream);
        await ended;
        return reply;
      }),
  );

  r.get(
    '/:id/files/download',
    { config: { scope: 'sandboxes:read' }, schema: { summary: 'Download one file (Daytona compatible)', tags, params: Params, querystring: z.looseObject({ path: RawPath }) } },
    async (request, reply) =>
      use(request.params.id, request, async (agent, cwd) => {
        const file = await agent.readFile(sandboxPath(cwd, request.query.path));
        reply.raw.once('close', () => file.stream.destroy());
        const ended = new Promise<void>((resolve) => finished(file.stream, () => resolve()));
        reply.header('content-length', String(file.size)).type('application/octet-stream').send(file.stream);
        await ended;
        return reply;
      }),
  );

  r.get(
    '/:id/files',
    {
      config: { scope: 'sandboxes:read' },
      schema: { summary: 'List a directory (Daytona compatible)', tags, params: Params, querystring: z.looseObject({ path: RawPath.default('.'), depth: z.coerce.number().int().min(1).max(32).default(1) }) },
    },
    async (request) =>
      use(request.params.id, request, async (agent, cwd) => {
        const listed = await agent.list(sandboxPath(cwd, request.query.path), { depth: request.query.depth });
        return listed.entries.map(fileInfo);
      }),
  );

  r.get(
    '/:id/files/info',
    { config: { scope: 'sandboxes:read' }, schema: { summary: 'A file’s details (Daytona compatible)', tags, params: Params, querystring: z.looseObject({ path: RawPath }) } },
    async (request) => use(request.params.id, request, async (agent, cwd) => fileInfo(await agent.stat(sandboxPath(cwd, request.query.path)))),
  );

  r.post(
    '/:id/files/folder',
    {
      config: { scope: 'sandboxes:write' },
      schema: {
        summary: 'Make a directory and its parents (Daytona compatible)',
        tags,
        params: Params,
        querystring: z.looseObject({ path: RawPath, mode: z.string().regex(/^0?[0-7]{3,4}$/, 'must be octal permission bits such as 755').optional() }),
      },
    },
    async (request, reply) => {
      const { path, mode } = request.query;
      await use(request.params.id, request, (agent, cwd) => agent.mkdir(sandboxPath(cwd, path), { parents: true, mode: mode ? parseInt(mode, 8) : undefined }));
      return reply.code(201).send(null);
    },
  );

  r.delete(
    '/:id/files',
    { config: { scope: 'sandboxes:write' }, schema: { summary: 'Delete a file or directory (Daytona compatible)', tags, params: Params, querystring: z.looseObject({ path: RawPath, recursive: boolish }) } },
    async (request, reply) => {
      const { path, recursive } = request.query;
      await use(request.params.id, request, (agent, cwd) => agent.remove(sandboxPath(cwd, path), { recursive }));
      return reply.code(204).send(null);
    },
  );

  r.post(
    '/:id/files/move',
    { config: { scope: 'sandboxes:write' }, schema: { summary: 'Move a file or directory (Daytona compatible)', tags, params: Params, querystring: z.looseObject({ source: RawPath, destination: RawPath }) } },
    async (request, reply) => {
      const { source, destination } = request.query;
      await use(request.params.id, request, (agent, cwd) =>
        agent.rename(sandboxPath(cwd, source, 'source'), sandboxPath(cwd, destination, 'destination'), { overwrite: true }),
      );
      return reply.code(200).send(null);
    },
  );

  for (const route of ['/:id/work-dir', '/:id/user-home-dir']) {
    r.get(route, { config: { scope: 'sandboxes:read' }, schema: { tags, params: Params } }, async (request) => ({
      dir: (await rt.sandboxes.running(request.params.id, request.principal)).row.spec.cwd,
    }));
  }
}
