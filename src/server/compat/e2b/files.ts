import path from 'node:path';
import { finished, type PassThrough, Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { PaddockError } from '../../../errors.js';
import type { Entry } from '../../../sandbox/agent/fs-ops.js';
import type { Runtime } from '../../../runtime.js';
import { sandboxPath } from '../daytona/file-info.js';
import { boundaryOf, MultipartReader } from '../daytona/multipart.js';
import { agentSink } from '../daytona/upload.js';
import { capped } from '../../routes/sandboxes/files.js';
import type { EnvdTokens } from './auth.js';

const FILE_TYPE: Record<Entry['type'], string> = { file: 'FILE_TYPE_FILE', dir: 'FILE_TYPE_DIRECTORY', symlink: 'FILE_TYPE_SYMLINK', other: 'FILE_TYPE_UNSPECIFIED' };

/** An agent entry as envd's EntryInfo (filesystem.proto; int64 `size` is a JSON string). */
function entryInfo(e: Entry) {
  const perms = e.mode & 0o777;
  const rwx = [...'rwxrwxrwx'].map((c, i) => (perms & (1 << (8 - i)) ? c : '-')).join('');
  return {
    name: e.name,
    type: FILE_TYPE[e.type],
    path: e.path,
    size: String(e.size),
    mode: e.mode,
    permissions: `${e.type === 'dir' ? 'd' : e.type === 'symlink' ? 'L' : '-'}${rwx}`,
    owner: 'sandbox',
    group: 'sandbox',
    modifiedTime: new Date(e.mtime_ms).toISOString(),
    ...(e.target ? { symlinkTarget: e.target } : {}),
  };
}

const PathMsg = z.looseObject({ path: z.string().min(1).max(4096) });

/**
 * envd's filesystem service (`filesystem.Filesystem/*`, unary JSON) and its REST file transfer
 * (`GET`/`POST /files`), through the sandbox's agent. Relative paths are the work dir's.
 */
export function e2bFileRoutes(app: FastifyInstance, rt: Runtime, tokens: EnvdTokens): void {
  const max = rt.config.sandboxes.max_upload_bytes;
  const parse = <S extends z.ZodType>(schema: S, value: unknown): z.infer<S> => {
    const r = schema.safeParse(value ?? {});
    if (r.success) return r.data;
    const issue = r.error.issues[0];
    throw new PaddockError('validation_failed', `${issue?.path.join('.') || 'message'}: ${issue?.message ?? 'invalid'}`);
  };
  const agentOf = (request: Parameters<EnvdTokens['check']>[0]) => {
    const { live, owner } = tokens.check(request, rt);
    const at = (p: string) => sandboxPath(live.row.spec.cwd, p);
    const use = <T>(fn: (agent: typeof live.agent) => Promise<T>) => rt.sandboxes.use(live.id, owner, fn);
    return { at, use };
  };

  app.post('/filesystem.Filesystem/Stat', async (request) => {
    const { at, use } = agentOf(request);
    const p = at(parse(PathMsg, request.body).path);
    return { entry: entryInfo(await use((a) => a.stat(p))) };
  });

  app.post('/filesystem.Filesystem/ListDir', async (request) => {
    const { at, use } = agentOf(request);
    const msg = parse(PathMsg.extend({ depth: z.number().int().min(0).max(32).optional() }), request.body);
    const p = at(msg.path);
    const { entries } = await use((a) => a.list(p, { depth: Math.max(1, msg.depth ?? 1) }));
    return { entries: entries.map(entryInfo) };
  });

  app.post('/filesystem.Filesystem/MakeDir', async (request) => {
    const { at, use } = agentOf(request);
    const p = at(parse(PathMsg, request.body).path);
    const entry = await use(async (a) => {
      // envd answers already_exists for a directory that is there (the SDK's makeDir then says false).
      const existing = await a.stat(p).catch(() => undefined);
      if (existing) throw new PaddockError('conflict', `directory ${p} already exists`, { connect_code: 'already_exists' });
      await a.mkdir(p, { parents: true });
      return a.stat(p);
    });
    return { entry: entryInfo(entry) };
  });

  app.post('/filesystem.Filesystem/Move', async (request) => {
    const { at, use } = agentOf(request);
    const msg = parse(z.looseObject({ source: z.string().min(1).max(4096), destination: z.string().min(1).max(4096) }), request.body);
    const [from, to] = [at(msg.source), at(msg.destination)];
    return { entry: entryInfo(await use(async (a) => (await a.rename(from, to, { overwrite: true }), a.stat(to)))) };
  });

  app.post('/filesystem.Filesystem/Remove', async (request) => {
    const { at, use } = agentOf(request);
    const p = at(parse(PathMsg, request.body).path);
    await use((a) => a.remove(p, { recursive: true }));
    return {};
  });

  const FileQuery = z.looseObject({ path: z.string().min(1).max(4096).optional(), username: z.string().max(64).optional() });

  app.get('/files', async (request, reply) => {
    const { at, use } = agentOf(request);
    const q = parse(FileQuery, request.query);
    if (!q.path) throw new PaddockError('validation_failed', 'path is required');
    const p = at(q.path);
    return use(async (agent) => {
      const file = await agent.readFile(p);
      reply.raw.once('close', () => file.stream.destroy());
      const ended = new Promise<void>((resolve) => finished(file.stream, () => resolve()));
      reply.header('content-length', String(file.size)).type('application/octet-stream').send(file.stream);
      await ended;
      return reply;
    });
  });

  app.post('/files', { bodyLimit: max }, async (request) => {
    const { at, use } = agentOf(request);
    const q = parse(FileQuery, request.query);
    const body = request.body as Readable | undefined;
    const type = request.headers['content-type'] ?? '';
    const written: { name: string; type: 'file'; path: string }[] = [];
    const write = async (dest: string, data: Readable | Buffer) =>
      use(async (agent) => {
        await agent.mkdir(path.posix.dirname(dest), { parents: true }).catch(() => undefined);
        await agent.writeFile(dest, data);
        written.push({ name: path.posix.basename(dest), type: 'file', path: dest });
      });
    if (!type.startsWith('multipart/form-data')) {
      if (!q.path) throw new PaddockError('validation_failed', 'path is required');
      await write(at(q.path), body ? capped(body, max) : Buffer.alloc(0));
      return written;
    }
    // Multipart (the SDK's default): each `file` part is one file, named by `path` or its filename, written as it streams in.
    const boundary = boundaryOf(type);
    await use(async (agent) => {
      const open = new Set<PassThrough>();
      const reader = new MultipartReader(boundary, {
        field: () => undefined,
        async file(name, filename) {
          if (name !== 'file') return { write: async () => undefined, end: async () => undefined };
          const dest = at(q.path ?? filename);
          await agent.mkdir(path.posix.dirname(dest), { parents: true }).catch(() => undefined);
          const sink = agentSink(agent, dest, open);
          return { write: (c) => sink.write(c), end: async () => (await sink.end(), void written.push({ name: path.posix.basename(dest), type: 'file', path: dest })) };
        },
      });
      let seen = 0;
      try {
        for await (const chunk of body ?? Readable.from([])) {
          seen += (chunk as Buffer).length;
          if (seen > max) throw new PaddockError('payload_too_large', `the body is larger than sandboxes.max_upload_bytes (${max} bytes)`);
          await reader.push(chunk as Buffer);
          if (reader.done) break;
        }
        await reader.end();
      } finally {
        for (const pt of open) pt.destroy(new Error('upload aborted'));
      }
    });
    return written;
  });

  app.get('/health', async (_request, reply) => reply.code(204).send());
}
