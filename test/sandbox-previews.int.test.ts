import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createToken } from '../src/auth/tokens.js';
import { expectProblem, type Json } from './helpers/api.js';
import { dockerMissing, removeRunnerContainers } from './helpers/docker.js';
import type { TestRunner } from './helpers/runner.js';
import { startSandboxRunner } from './helpers/sandbox-runner.js';
import { openWebSocket } from './helpers/ws-raw.js';

// Previews (HTTP and WebSocket into a sandbox port) against a real runner whose sandboxes are containers of the
// python image, with test/helpers/preview-server.py listening inside.
const missing = await dockerMissing();
const skip = !!missing && process.env.CI !== 'true';
const DOMAIN = 'preview.test';
const IDLE_MS = 2000;
const SERVER = readFileSync(new URL('./helpers/preview-server.py', import.meta.url));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Raw {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

// Docker (runc), gVisor (runsc) and bwrap: the same tests, each on a runner of its own with host uids of its own.
const drivers = [
  { driver: 'docker', image: 'python', uids: { docker: { uid_range_start: 270_000, uid_range_size: 100 } } },
  { driver: 'gvisor', image: 'python', uids: { docker: { uid_range_start: 270_100, uid_range_size: 100 } } },
  // bwrap without an image has the host's /usr, python3 included.
  { driver: 'bwrap', image: undefined, uids: { sandbox: { uid_range_start: 61_290, uid_range_size: 8 } } },
];

describe.skipIf(skip).each(drivers)('sandbox previews on $driver', ({ driver, image, uids }) => {
  let r: TestRunner;
  let other: string; // another tenant's token
  let reader: string; // sandboxes:read only
  let id: string;
  let prefix: string;

  /** node:http, so any header (Connection, Host, Cookie) can be sent; a body may be a stream. */
  function raw(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | Readable): Promise<Raw> {
    const { hostname, port } = new URL(r.url);
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: hostname, port, method, path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      if (body instanceof Readable) body.pipe(req);
      else req.end(body);
    });
  }
  const bearer = (token = r.token) => ({ authorization: `Bearer ${token}` });
  const json = (res: Raw): Json => JSON.parse(res.body.toString());
  const seen = (res: Raw): Record<string, string[]> => {
    const out: Record<string, string[]> = {};
    for (const [k, v] of json(res).headers as [string, string][]) (out[k] ??= []).push(v);
    return out;
  };

  beforeAll(async () => {
    if (missing) throw new Error(`preview tests cannot run: ${missing}`);
    r = await startSandboxRunner(undefined, {
      drivers: [driver],
      ...uids,
      pool: { size: 0 },
      sandboxes: { preview_domain: DOMAIN, preview_idle_ms: IDLE_MS },
    });
    other = (await createToken(r.rt.store, 'other', ['sandboxes:read', 'sandboxes:write'])).token;
    reader = (await createToken(r.rt.store, 'reader', ['sandboxes:read'])).token;
    const created = await r.api('POST', '/v1/sandboxes', { image, driver });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    id = created.body.id;
    prefix = `/v1/sandboxes/${id}/ports/8080`;
    const put = await fetch(`${r.url}/v1/sandboxes/${id}/files?path=/work/srv.py`, { method: 'PUT', headers: bearer(), body: SERVER });
    expect(put.status).toBe(204);
    const started = await r.api('POST', `/v1/sandboxes/${id}/exec`, { command: ['python3', '/work/srv.py', '8080'], detach: true });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    // Listening once a preview stops being 502.
    const deadline = Date.now() + 15_000;
    while ((await raw('GET', `${prefix}/echo`, bearer())).status !== 200) {
      if (Date.now() > deadline) throw new Error('the server in the sandbox did not come up');
      await new Promise((res) => setTimeout(res, 100));
    }
  }, 90_000);
  afterAll(async () => {
    if (!r) return;
    await r.close();
    await removeRunnerContainers(r.dataDir);
  }, 60_000);

  test('GET: the server’s status, headers and body for the path; no Paddock credential or hop-by-hop header crosses', async () => {
    const res = await raw('GET', `${prefix}/echo/a%2Fb?x=1&y=%20`, {
      ...bearer(),
      connection: 'keep-alive, x-private',
      'x-private': 'hop',
      'x-custom': 'kept',
      cookie: 'theirs=1',
      'x-paddock-preview-token': 'pdkp_not-a-real-one',
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-from-sandbox']).toBe('yes');
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['keep-alive']).not.toBe('timeout=5'); // the server's hop-by-hop header stays on its hop
    const body = json(res);
    expect(body).toMatchObject({ method: 'GET', path: '/echo/a%2Fb?x=1&y=%20' });
    const h = seen(res);
    expect(h.authorization).toBeUndefined();
    expect(h['x-paddock-preview-token']).toBeUndefined();
    expect(h['x-private']).toBeUndefined();
    expect(h['x-custom']).toEqual(['kept']);
    expect(h.cookie).toEqual(['theirs=1']);
    expect(h.connection).toEqual(['close']);
    expect(h['x-forwarded-for']).toEqual(['127.0.0.1']);
    expect(h['x-forwarded-proto']).toEqual(['http']);
    expect(h['x-forwarded-prefix']).toEqual([prefix]);
    expect(h.host).toEqual([new URL(r.url).host]);

    // The bare port and its root are both `/`; HEAD has the headers and no body.
    expect(json(await raw('GET', prefix, bearer())).path).toBe('/');
    expect(json(await raw('GET', `${prefix}/?q=1`, bearer())).path).toBe('/?q=1');
    const head = await raw('HEAD', `${prefix}/echo`, bearer());
    expect(head.status).toBe(200);
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
    expect(head.body.length).toBe(0);
  });

  test('POST bodies stream to the server (8 MiB with Content-Length, chunked without)', async () => {
    const data = randomBytes(8 * 1024 * 1024);
    const sized = await raw('POST', `${prefix}/upload`, { ...bearer(), 'content-type': 'application/octet-stream', 'content-length': String(data.length) }, Readable.from(chunksOf(data, 64 * 1024)));
    expect(sized.status).toBe(200);
    expect(json(sized)).toMatchObject({ method: 'POST', path: '/upload', body_bytes: data.length, body_sha256: sha256(data) });
    const small = randomBytes(300_000);
    const chunked = await raw('PUT', `${prefix}/upload`, { ...bearer(), 'content-type': 'text/plain' }, Readable.from(chunksOf(small, 10_000)));
    expect(json(chunked)).toMatchObject({ method: 'PUT', body_bytes: small.length, body_sha256: sha256(small) });
    expect(seen(chunked)['transfer-encoding']).toEqual(['chunked']);
    // No content type at all is passed on as well.
    const bare = await raw('POST', `${prefix}/upload`, { ...bearer(), 'content-length': '5' }, Buffer.from('hello'));
    expect(json(bare)).toMatchObject({ body_bytes: 5, body_sha256: sha256(Buffer.from('hello')) });
  });

  test('a 20 MiB answer streams through with its Content-Length', async () => {
    const n = 20 * 1024 * 1024;
    const res = await fetch(`${r.url}${prefix}/big?n=${n}`, { headers: bearer() });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(n));
    const hash = createHash('sha256');
    let got = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      got += chunk.length;
    }
    const block = Buffer.alloc(65536);
    for (let i = 0; i < block.length; i++) block[i] = i & 255;
    const expected = createHash('sha256');
    for (let i = 0; i < n / block.length; i++) expected.update(block);
    expect(got).toBe(n);
    expect(hash.digest('hex')).toBe(expected.digest('hex'));
  });

  test('a redirect to an absolute path stays under the preview; the server’s attempt to set the preview cookie is dropped', async () => {
    const res = await raw('GET', `${prefix}/redirect`, bearer());
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`${prefix}/echo?from=redirect`);
    const cookies = await raw('GET', `${prefix}/cookies`, bearer());
    expect(cookies.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2']);
  });

  test('WebSocket: the upgrade goes through and frames echo both ways (small and 100 KB)', async () => {
    const ws = await openWebSocket(r.url, `${prefix}/ws?room=1`, bearer());
    expect(ws.status).toBe(101);
    expect(ws.headers.upgrade).toBe('websocket');
    expect(ws.headers['x-seen-path']).toBe('/ws?room=1');
    expect(ws.headers['x-seen-authorization']).toBe('-');
    ws.send('hello');
    expect(await ws.next()).toEqual({ opcode: 1, payload: Buffer.from('hello') });
    const big = randomBytes(100_000);
    ws.send(big, 2);
    const echoed = await ws.next();
    expect(echoed.opcode).toBe(2);
    expect(sha256(echoed.payload)).toBe(sha256(big));
    ws.send(Buffer.from([0x03, 0xe8]), 8);
    expect((await ws.next()).opcode).toBe(8);
    await ws.closed;
  });

  test('a WebSocket idle for sandboxes.preview_idle_ms is closed; an Upgrade to another route gets that route’s answer', async () => {
    const ws = await openWebSocket(r.url, `${prefix}/ws`, bearer());
    expect(ws.status).toBe(101);
    const started = Date.now();
    await ws.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(IDLE_MS - 100);
    const health = await openWebSocket(r.url, '/health');
    expect(health.status).toBe(200);
    await health.closed;
  });

  test('a port nobody listens on is 502 preview_unreachable naming it; a server that never answers is 504 after the idle time', async () => {
    const closed = await raw('GET', `/v1/sandboxes/${id}/ports/9999/x`, bearer());
    expect(closed.status).toBe(502);
    expect(json(closed)).toMatchObject({ code: 'preview_unreachable', port: 9999 });
    expect(json(closed).detail).toMatch(/nothing listens on port 9999/);
    const ws = await openWebSocket(r.url, `/v1/sandboxes/${id}/ports/9999/ws`, bearer());
    expect(ws.status).toBe(502);
    await ws.closed;

    const started = Date.now();
    const slow = await raw('GET', `${prefix}/slow`, bearer());
    expect(slow.status).toBe(504);
    expect(json(slow).code).toBe('preview_timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(IDLE_MS - 100);
    expect(Date.now() - started).toBeLessThan(IDLE_MS + 3000);
  });

  test('an answer that breaks off mid-way ends the client’s connection', async () => {
    await expect(raw('GET', `${prefix}/break`, bearer())).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
    // The preview still works afterwards.
    expect((await raw('GET', `${prefix}/echo`, bearer())).status).toBe(200);
  });

  test('no credentials: 401; a bad bearer: 401; another tenant’s token: 404 (HTTP and WebSocket); bad port: 400', async () => {
    expectProblem(await asApi(raw('GET', `${prefix}/echo`)), 401, 'unauthorized');
    expectProblem(await asApi(raw('GET', `${prefix}/echo`, { authorization: 'Bearer nope' })), 401, 'unauthorized');
    expectProblem(await asApi(raw('GET', `${prefix}/echo`, { 'x-paddock-preview-token': `pdkp_${'a'.repeat(43)}` })), 401, 'unauthorized');
    expectProblem(await asApi(raw('GET', `${prefix}/echo`, bearer(other))), 404, 'not_found');
    const unauth = await openWebSocket(r.url, `${prefix}/ws`);
    expect(unauth.status).toBe(401);
    await unauth.closed;
    const theirs = await openWebSocket(r.url, `${prefix}/ws`, bearer(other));
    expect(theirs.status).toBe(404);
    await theirs.closed;
    for (const port of ['0', '65536', '08080', 'x']) {
      expectProblem(await asApi(raw('GET', `/v1/sandboxes/${id}/ports/${port}/`, bearer())), 400, 'validation_failed');
    }
  });

  test('a preview token: query → HttpOnly cookie for that preview and a redirect without it; then the cookie or the header opens it', async () => {
    expectProblem(await r.api('POST', `/v1/sandboxes/${id}/preview-tokens`, { port: 8080 }, bearer(reader)), 403, 'forbidden');
    expectProblem(await r.api('POST', `/v1/sandboxes/${id}/preview-tokens`, { port: 8080 }, bearer(other)), 404, 'not_found');
    const made = await r.api('POST', `/v1/sandboxes/${id}/preview-tokens`, { port: 8080, ttl_ms: 60_000 });
    expect(made.status).toBe(201);
    const { token, url, expires_at } = made.body;
    expect(token).toMatch(/^pdkp_/);
    expect(Date.parse(expires_at) - Date.now()).toBeGreaterThan(50_000);
    // The domain is configured, so the URL is the host-name form.
    expect(url).toBe(`http://8080-${id}.${DOMAIN}:${new URL(r.url).port}/?paddock_preview_token=${token}`);

    const first = await raw('GET', `${prefix}/echo?a=1&paddock_preview_token=${token}&b=2`);
    expect(first.status).toBe(302);
    expect(first.headers.location).toBe(`${prefix}/echo?a=1&b=2`);
    const cookie = first.headers['set-cookie']![0]!;
    expect(cookie).toMatch(new RegExp(`^paddock_preview_token=${token}; Path=${prefix}; Max-Age=\\d+; HttpOnly; SameSite=Lax$`));

    const next = await raw('GET', `${prefix}/echo?a=1&b=2`, { cookie: `theirs=1; paddock_preview_token=${token}` });
    expect(next.status).toBe(200);
    expect(json(next).path).toBe('/echo?a=1&b=2');
    expect(seen(next).cookie).toEqual(['theirs=1']);
    // A planted cookie of the same name does not hide the real one.
    expect((await raw('GET', `${prefix}/echo`, { cookie: `paddock_preview_token=planted; paddock_preview_token=${token}` })).status).toBe(200);
    const viaHeader = await raw('POST', `${prefix}/echo?paddock_preview_token=${token}`, { 'x-paddock-preview-token': token, 'content-length': '2' }, Buffer.from('hi'));
    expect(viaHeader.status).toBe(200); // not a redirect: a POST is passed on, the token left out of its query
    expect(json(viaHeader).path).toBe('/echo');
    expect(seen(viaHeader)['x-paddock-preview-token']).toBeUndefined();
    const ws = await openWebSocket(r.url, `${prefix}/ws?paddock_preview_token=${token}`, { cookie: 'c=3' });
    expect(ws.status).toBe(101);
    expect(ws.headers['x-seen-path']).toBe('/ws');
    ws.socket.destroy();

    // Another port of the same sandbox is not this token's.
    expectProblem(await asApi(raw('GET', `/v1/sandboxes/${id}/ports/8081/`, { 'x-paddock-preview-token': token })), 401, 'unauthorized');
    // Nor is another sandbox.
    const second = await r.api('POST', '/v1/sandboxes', { image, driver });
    expectProblem(await asApi(raw('GET', `/v1/sandboxes/${second.body.id}/ports/8080/`, { 'x-paddock-preview-token': token })), 401, 'unauthorized');
    // A token for any port, and its end with its sandbox.
    const any = await r.api('POST', `/v1/sandboxes/${second.body.id}/preview-tokens`); // no body at all
    expect(any.body).toMatchObject({ port: null, url: null });
    expectProblem(await asApi(raw('GET', `/v1/sandboxes/${second.body.id}/ports/7001/`, { 'x-paddock-preview-token': any.body.token })), 502, 'preview_unreachable');
    // Its server's open WebSocket ends with it, too.
    await fetch(`${r.url}/v1/sandboxes/${second.body.id}/files?path=/work/srv.py`, { method: 'PUT', headers: bearer(), body: SERVER });
    await r.api('POST', `/v1/sandboxes/${second.body.id}/exec`, { command: ['python3', '/work/srv.py', '7000'], detach: true });
    let open: Awaited<ReturnType<typeof openWebSocket>> | undefined;
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; await new Promise((res) => setTimeout(res, 100))) {
      open = await openWebSocket(r.url, `/v1/sandboxes/${second.body.id}/ports/7000/ws`, { 'x-paddock-preview-token': any.body.token });
      if (open.status === 101) break;
      open.socket.destroy();
    }
    expect(open!.status).toBe(101);
    const held = r.rt.sandboxes.previewTokens.size;
    expect((await r.api('DELETE', `/v1/sandboxes/${second.body.id}`)).status).toBe(204);
    expect(r.rt.sandboxes.previewTokens.size).toBe(held - 1);
    await open!.closed;
    expectProblem(await asApi(raw('GET', `/v1/sandboxes/${second.body.id}/ports/7000/`, { 'x-paddock-preview-token': any.body.token })), 401, 'unauthorized');
  }, 60_000);

  test('a short-lived token stops working when it expires', async () => {
    const made = await r.api('POST', `/v1/sandboxes/${id}/preview-tokens`, { port: 8080, ttl_ms: 1000 });
    const h = { 'x-paddock-preview-token': made.body.token };
    expect((await raw('GET', `${prefix}/echo`, h)).status).toBe(200);
    await new Promise((res) => setTimeout(res, 1100));
    expectProblem(await asApi(raw('GET', `${prefix}/echo`, h)), 401, 'unauthorized');
  });

  test('by host name: <port>-<id>.<domain> reaches the port with the path unchanged; malformed names under the domain are 400', async () => {
    const host = `8080-${id}.${DOMAIN}:${new URL(r.url).port}`;
    const res = await raw('GET', '/echo?x=1', { ...bearer(), host });
    expect(res.status).toBe(200);
    expect(json(res).path).toBe('/echo?x=1');
    expect(seen(res)['x-forwarded-prefix']).toBeUndefined();
    expect(seen(res)['x-forwarded-host']).toEqual([host]);
    // The API is not reachable on a preview host: its paths are the sandbox's.
    expect(json(await raw('GET', `/v1/sandboxes/${id}`, { ...bearer(), host })).path).toBe(`/v1/sandboxes/${id}`);
    expect((await raw('GET', '/redirect', { ...bearer(), host })).headers.location).toBe('/echo?from=redirect');
    const ws = await openWebSocket(r.url, '/ws', { ...bearer(), host });
    expect(ws.status).toBe(101);
    ws.send('by host');
    expect((await ws.next()).payload.toString()).toBe('by host');
    ws.socket.destroy();

    // A preview token by host: the cookie is the preview host's own (Path=/).
    const { token } = (await r.api('POST', `/v1/sandboxes/${id}/preview-tokens`, { port: 8080 })).body;
    const first = await raw('GET', `/?paddock_preview_token=${token}`, { host });
    expect(first.status).toBe(302);
    expect(first.headers.location).toBe('/');
    expect(first.headers['set-cookie']![0]).toMatch(/; Path=\/; /);
    expect((await raw('GET', '/echo', { host, cookie: `paddock_preview_token=${token}` })).status).toBe(200);
    expect((await raw('GET', `//elsewhere.example/x?paddock_preview_token=${token}`, { host })).headers.location).toBe('/elsewhere.example/x');

    for (const bad of [`99999-${id}`, `0-${id}`, `8080-sbx_nope`, `8080-${id}x`, `a.8080-${id}`, 'www']) {
      expectProblem(await asApi(raw('GET', '/', { ...bearer(), host: `${bad}.${DOMAIN}` })), 400, 'validation_failed');
    }
    // Outside the domain the API answers as usual.
    expect((await raw('GET', `/v1/sandboxes/${id}`, { ...bearer(), host: 'runner.example' })).status).toBe(200);
  });

  test('the preview routes are in /openapi.json', async () => {
    const doc = (await r.api('GET', '/openapi.json')).body;
    expect(Object.keys(doc.paths['/v1/sandboxes/{id}/ports/{port}/{*}'] ?? {})).toEqual(expect.arrayContaining(['get', 'post']));
    expect(doc.paths['/v1/sandboxes/{id}/preview-tokens'].post).toBeDefined();
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/_paddock'))).toEqual([]);
  });

  test('previews count as use: the idle TTL starts again', async () => {
    const before = (await r.api('GET', `/v1/sandboxes/${id}`)).body.last_used_at;
    await new Promise((res) => setTimeout(res, 20));
    expect((await raw('GET', `${prefix}/echo`, bearer())).status).toBe(200);
    const after = (await r.api('GET', `/v1/sandboxes/${id}`)).body;
    expect(Date.parse(after.last_used_at)).toBeGreaterThan(Date.parse(before));
    expect(Date.parse(after.expires_at) - Date.parse(after.last_used_at)).toBe(after.timeout_ms);
  });
});

function* chunksOf(data: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

/** A raw answer in the shape expectProblem takes. */
async function asApi(res: Promise<Raw>): Promise<{ status: number; headers: Headers; body: any }> {
  const got = await res;
  return { status: got.status, headers: new Headers(got.headers as Record<string, string>), body: JSON.parse(got.body.toString() || 'null') };
}
