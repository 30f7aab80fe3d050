import { afterEach, describe, expect, test } from 'vitest';
import { type Receiver, startReceiver } from '../../../test/helpers/callback-receiver.js';
import { guardedLookup, sendCallback, type SendRequest } from './send.js';

let rx: Receiver | undefined;
afterEach(async () => {
  await rx?.close();
  rx = undefined;
});

const req = (url: string, over: Partial<SendRequest> = {}): SendRequest => ({
  url,
  body: '{"state":"running"}',
  headers: { 'content-type': 'application/json', 'x-paddock-event': 'job.state' },
  timeoutMs: 2000,
  allowPrivate: true,
  ...over,
});

describe('one try', () => {
  test('2xx is delivered; the receiver gets the exact body and the headers', async () => {
    rx = await startReceiver(() => ({ status: 200, body: 'ok' }));
    expect(await sendCallback(req(`${rx.url}/hook?x=1`))).toEqual({ kind: 'delivered', status: 200 });
    expect(rx.received[0]).toMatchObject({ raw: '{"state":"running"}', headers: { 'x-paddock-event': 'job.state' } });
  });

  test('5xx and 429 are worth a retry, with Retry-After read', async () => {
    rx = await startReceiver((_r, n) => (n === 1 ? { status: 503 } : { status: 429, headers: { 'retry-after': '3' } }));
    expect(await sendCallback(req(rx.url))).toMatchObject({ kind: 'retry', status: 503 });
    expect(await sendCallback(req(rx.url))).toMatchObject({ kind: 'retry', status: 429, retryAfterMs: 3000 });
  });

  test('other 4xx fail for good, with a bounded excerpt of the answer', async () => {
    rx = await startReceiver(() => ({ status: 400, body: `bad\n${'x'.repeat(1_000_000)}` }));
    const out = await sendCallback(req(rx.url));
    expect(out).toMatchObject({ kind: 'failed', status: 400 });
    expect(out.kind === 'failed' && out.excerpt!.length).toBeLessThanOrEqual(200);
  });

  test('a redirect is not followed', async () => {
    const target = await startReceiver();
    rx = await startReceiver(() => ({ status: 307, headers: { location: `${target.url}/elsewhere` } }));
    expect(await sendCallback(req(rx.url))).toMatchObject({ kind: 'failed', status: 307, error: /not followed/ });
    expect(target.received).toHaveLength(0);
    await target.close();
  });

  test('a receiver that never answers is a retry after timeout_ms', async () => {
    rx = await startReceiver(() => 'hang');
    const t0 = Date.now();
    expect(await sendCallback(req(rx.url, { timeoutMs: 300 }))).toMatchObject({ kind: 'retry', error: /300 ms/ });
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  test('a refused connection is a retry', async () => {
    rx = await startReceiver();
    const url = rx.url;
    await rx.close();
    rx = undefined;
    expect(await sendCallback(req(url))).toMatchObject({ kind: 'retry' });
  });
});

describe('SSRF guard at connect time (callbacks.allow_private = false)', () => {
  test('an address literal that is private is refused without a connection', async () => {
    rx = await startReceiver();
    expect(await sendCallback(req(rx.url, { allowPrivate: false }))).toMatchObject({ kind: 'refused' });
    expect(await sendCallback(req('http://[::ffff:7f00:1]:1/', { allowPrivate: false }))).toMatchObject({ kind: 'refused' });
    expect(rx.received).toHaveLength(0);
  });

  test('a hostname resolving to 127.0.0.1 is refused at connect, and reached when allowed', async () => {
    rx = await startReceiver();
    const byName = rx.url.replace('127.0.0.1', 'localhost');
    expect(await sendCallback(req(byName, { allowPrivate: false }))).toMatchObject({ kind: 'refused', error: /localhost resolves to/ });
    expect(rx.received).toHaveLength(0);
    expect(await sendCallback(req(byName, { allowPrivate: true }))).toMatchObject({ kind: 'delivered' });
    expect(rx.received).toHaveLength(1);
  });

  test('the guarded lookup refuses a name with any private address and answers both lookup shapes', async () => {
    const lookup = guardedLookup(false);
    const err = await new Promise<Error | null>((resolve) => lookup('localhost', { all: true }, (e) => resolve(e)));
    expect(err?.message).toMatch(/private address/);
    const open = guardedLookup(true);
    const one = await new Promise<[string, number]>((resolve, reject) =>
      open('localhost', { family: 4 }, (e, a, f) => (e ? reject(e) : resolve([a as string, f as number]))),
    );
    expect(one).toEqual(['127.0.0.1', 4]);
  });
});
