import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { deadUrl } from '../../test/helpers/ports.mjs';
import { PaddockError } from '../errors.js';
import { Http, parseUrls } from './http.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A stand-in runner that counts what it was sent. */
async function runner(handler: Handler): Promise<{ url: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

const ok: Handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
const problem = (status: number, code: string): Handler => (_req, res) =>
  res.writeHead(status, { 'content-type': 'application/problem+json' }).end(JSON.stringify({ status, code, title: code, detail: code }));
/** Takes the request and drops the connection: it may have been acted on. */
const reset: Handler = (req) => req.socket.destroy();

const code = async (p: Promise<unknown>) => ((await p.catch((e: unknown) => e)) as PaddockError).code;

describe('a client with several runner URLs', () => {
  it('moves to the next runner when one cannot be reached, and stays with the one that answered', async () => {
    const dead = await deadUrl();
    const live = await runner(ok);
    const http = new Http({ url: `${dead}, ${live.url}/` });
    expect(http.urls).toEqual([dead, live.url]);
    expect(await http.json('POST', '/v1/jobs', { json: {} })).toEqual({ ok: true });
    expect(http.url).toBe(live.url);
    await http.json('GET', '/v1/jobs');
    expect(live.hits).toEqual(['POST /v1/jobs', 'GET /v1/jobs']);
  });

  it('a request that reached a runner and lost its answer is sent again only when that is safe', async () => {
    const first = await runner(reset);
    const second = await runner(ok);
    const http = new Http({ url: `${first.url},${second.url}` });
    // A submit without an Idempotency-Key may have been stored: not sent twice.
    expect(await code(http.json('POST', '/v1/jobs', { json: {} }))).toBe('unreachable');
    expect(second.hits).toEqual([]);
    // With one, the runner answers a replay with the first job; a GET is safe anyway.
    await http.json('POST', '/v1/jobs', { json: {}, headers: { 'Idempotency-Key': 'k1' } });
    const again = new Http({ url: `${first.url},${second.url}` });
    await again.json('GET', '/v1/jobs/job_1');
    expect(second.hits).toEqual(['POST /v1/jobs', 'GET /v1/jobs/job_1']);
  });

  it('a runner shutting down passes the request on; an answer about the shared store does not', async () => {
    const stopping = await runner(problem(503, 'shutting_down'));
    const live = await runner(ok);
    expect(await new Http({ url: `${stopping.url},${live.url}` }).json('POST', '/v1/jobs', { json: {} })).toEqual({ ok: true });
    const storeDown = await runner(problem(503, 'store_unavailable'));
    const other = await runner(ok);
    expect(await code(new Http({ url: `${storeDown.url},${other.url}` }).json('POST', '/v1/jobs', { json: {} }))).toBe('store_unavailable');
    expect(other.hits).toEqual([]);
    // A 4xx is the request's own fault, the same everywhere.
    const bad = await runner(problem(400, 'validation_failed'));
    expect(await code(new Http({ url: `${bad.url},${other.url}` }).json('GET', '/v1/jobs'))).toBe('validation_failed');
    expect(other.hits).toEqual([]);
  });

  it('when none answers, the last failure says so; a bad URL fails at once', async () => {
    const err = (await new Http({ url: `${await deadUrl()},${await deadUrl()}` }).json('GET', '/v1/jobs').catch((e: unknown) => e)) as PaddockError;
    expect(err.code).toBe('unreachable');
    expect(() => parseUrls('http://a, ftp://b')).toThrow(/must be http:\/\/ or https:\/\//);
    expect(() => parseUrls(' , ')).toThrow(/no runner URL/);
    expect(() => parseUrls('not a url')).toThrow(/is not a URL/);
  });
});
