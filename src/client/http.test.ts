import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PaddockClient } from './client.js';
import { queryString } from './http.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

describe('client over HTTP (a stand-in server)', () => {
  let server: Server;
  let handler: Handler = () => undefined;
  let client: PaddockClient;
  beforeAll(async () => {
    server = createServer((req, res) => handler(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    client = new PaddockClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, token: 'tok' });
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('sends the bearer token and JSON, reads JSON, and repeats array query keys', async () => {
    let seen: { url?: string; auth?: string; type?: string; body?: string } = {};
    handler = (req, res) => {
      let body = '';
      req.on('data', (c) => (body += c)).on('end', () => {
        seen = { url: req.url, auth: req.headers.authorization, type: req.headers['content-type'], body };
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'sbx_1', state: 'running' }));
      });
    };
    const created = await client.sandboxes.create({ labels: { a: 'b' } });
    expect(created).toMatchObject({ id: 'sbx_1' });
    expect(seen).toEqual({ url: '/v1/sandboxes', auth: 'Bearer tok', type: 'application/json', body: '{"labels":{"a":"b"}}' });
    handler = (req, res) => {
      seen = { url: req.url };
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"items":[],"next_cursor":null}');
    };
    await client.sandboxes.page({ state: 'running', label: { a: 'b', 'c/d': 'e=f' } });
    expect(seen.url).toBe('/v1/sandboxes?state=running&label=a%3Db&label=c%2Fd%3De%3Df');
  });

  it('lists every page by cursor', async () => {
    const pages: Record<string, string> = { '': 'c1', c1: 'c2', c2: '' };
    handler = (req, res) => {
      const cursor = new URL(req.url!, 'http://x').searchParams.get('cursor') ?? '';
      const next = pages[cursor]!;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items: [{ id: `after-${cursor}` }], next_cursor: next || null }));
    };
    const ids: string[] = [];
    for await (const s of client.sandboxes.list({ limit: 1 })) ids.push(s.id);
    expect(ids).toEqual(['after-', 'after-c1', 'after-c2']);
  });

  it('throws problem+json answers as PaddockError with the code and extras', async () => {
    handler = (_req, res) => {
      res.writeHead(409, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ type: 'urn:paddock:error:conflict', title: 't', status: 409, detail: 'sandbox is paused', code: 'conflict', state: 'paused' }));
    };
    await expect(client.sandboxes.exec('sbx_1', { command: ['true'] })).rejects.toMatchObject({
      code: 'conflict',
      message: 'sandbox is paused',
      details: { state: 'paused' },
      status: 409,
    });
  });

  it('streams an upload: the server has the first bytes before the source has made the rest', async () => {
    let firstAt = -1;
    let received = 0;
    let made = 0;
    handler = (req, res) => {
      req.on('data', (c: Buffer) => {
        if (firstAt < 0) firstAt = made;
        received += c.length;
      });
      req.on('end', () => res.writeHead(204).end());
    };
    async function* source() {
      for (let i = 0; i < 64; i++) {
        made++;
        yield new Uint8Array(64 * 1024).fill(i);
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    await client.sandboxes.files.upload('sbx_1', '/work/big', source(), { mode: 0o755 });
    expect(received).toBe(64 * 64 * 1024);
    expect(firstAt).toBeGreaterThan(0);
    expect(firstAt).toBeLessThan(32);
  });

  it('an upload refused part way gets the refusal, not the broken pipe', async () => {
    handler = (req, res) => {
      let seen = 0;
      req.on('data', (c: Buffer) => {
        seen += c.length;
        if (seen < 1024 * 1024 || res.headersSent) return;
        res.writeHead(502, { 'content-type': 'application/problem+json', connection: 'close' });
        res.end(JSON.stringify({ code: 'driver_error', detail: 'no space left on device', status: 502 }));
        req.socket.destroySoon();
      });
    };
    let made = 0;
    async function* endless() {
      for (;;) {
        made++;
        yield new Uint8Array(256 * 1024);
      }
    }
    await expect(client.sandboxes.files.upload('sbx_1', '/work/full', endless())).rejects.toMatchObject({
      code: 'driver_error',
      message: 'no space left on device',
    });
    // The source was let go once the answer came.
    const after = made;
    await new Promise((r) => setTimeout(r, 50));
    expect(made).toBe(after);
  });

  it('streams a download: the body is readable before the server has sent it all', async () => {
    let finish!: () => void;
    handler = (req, res) => {
      expect(req.url).toBe('/v1/sandboxes/sbx_1/files?path=%2Fwork%2Fa+b');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '6' });
      res.write('abc');
      finish = () => res.end('def');
    };
    const dl = await client.sandboxes.files.download('sbx_1', '/work/a b');
    expect(dl.size).toBe(6);
    const reader = dl.body.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('abc');
    finish();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('def');
    expect((await reader.read()).done).toBe(true);
  });

  it('an unreachable runner is `unreachable`', async () => {
    const down = new PaddockClient({ url: 'http://127.0.0.1:1' });
    await expect(down.jobs.get('job_1')).rejects.toMatchObject({ code: 'unreachable' });
  });

  it('queryString leaves out undefined and null', () => {
    expect(queryString({ a: undefined, b: null, c: 0, d: false, e: 'x y' })).toBe('?c=0&d=false&e=x+y');
    expect(queryString({})).toBe('');
  });
});
