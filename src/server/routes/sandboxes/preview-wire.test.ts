import type { IncomingMessage } from 'node:http';
import { describe, expect, test } from 'vitest';
import { loadConfig } from '../../../config/load.js';
import { BAD_PREVIEW_HOST_PATH, hostTarget, parsePort, previewHostRewrite } from './preview-host.js';
import { downstreamHeaders, previewCookies, splitPreviewQuery, upstreamHeaders, withoutPreviewCookie } from './preview-wire.js';

const ID = 'sbx_01knz5m7x2d9h3c8v6q4r0t1wy';
const msg = (rawHeaders: string[], extra: Partial<IncomingMessage> = {}) => {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) headers[rawHeaders[i]!.toLowerCase()] = rawHeaders[i + 1]!;
  return { rawHeaders, headers, socket: { remoteAddress: '10.0.0.9' }, ...extra } as unknown as IncomingMessage;
};
const target = { id: ID, port: 8080, path: '/', prefix: `/v1/sandboxes/${ID}/ports/8080` };

describe('preview wire', () => {
  test('the query loses only the preview token, the rest byte for byte', () => {
    expect(splitPreviewQuery('/a?x=%20&paddock_preview_token=t1&y=a+b&paddock_preview_token=t%2B2')).toEqual({
      url: '/a?x=%20&y=a+b',
      tokens: ['t1', 't+2'],
    });
    expect(splitPreviewQuery('/a?paddock_preview_token=t')).toEqual({ url: '/a', tokens: ['t'] });
    expect(splitPreviewQuery('/a?paddock_preview_tokenx=1')).toEqual({ url: '/a?paddock_preview_tokenx=1', tokens: [] });
    expect(splitPreviewQuery('/a?paddock_preview_token=%zz').tokens).toEqual(['%zz']);
  });

  test('cookies: the preview cookie is found (every copy) and removed, the others kept', () => {
    expect(previewCookies('a=1; paddock_preview_token=x; paddock_preview_token=y')).toEqual(['x', 'y']);
    expect(withoutPreviewCookie(['a=1; paddock_preview_token=x', 'b=2'])).toBe('a=1; b=2');
    expect(withoutPreviewCookie(['paddock_preview_token=x'])).toBeUndefined();
  });

  test('upstream: no hop-by-hop, Connection-listed, Expect or credential header; X-Forwarded-* set or appended', () => {
    const h = upstreamHeaders(
      msg([
        'Host', 'h:1', 'Connection', 'keep-alive, X-Hop', 'X-Hop', '1', 'Keep-Alive', '5', 'TE', 'trailers', 'Expect', '100-continue',
        'Authorization', 'Bearer s', 'X-Paddock-Preview-Token', 't', 'Cookie', 'a=1; paddock_preview_token=t', 'X-Forwarded-For', '1.2.3.4',
        'X-Forwarded-Proto', 'https', 'Accept', 'a', 'Accept', 'b', 'Upgrade', 'h2c',
      ]),
      target,
      false,
    );
    expect(h).toEqual({
      host: 'h:1',
      cookie: 'a=1',
      accept: ['a', 'b'],
      connection: 'close',
      'x-forwarded-for': '1.2.3.4, 10.0.0.9',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'h:1',
      'x-forwarded-prefix': target.prefix,
    });
    const ws = upstreamHeaders(msg(['Host', 'h', 'Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Key', 'k']), { ...target, prefix: '' }, true);
    expect(ws).toMatchObject({ connection: 'upgrade', upgrade: 'websocket', 'sec-websocket-key': 'k', 'x-forwarded-proto': 'http' });
    expect(ws['x-forwarded-prefix']).toBeUndefined();
  });

  test('downstream: hop-by-hop dropped (kept on a 101), the preview cookie never set, Location under the prefix', () => {
    const res = (statusCode: number, raw: string[]) => msg(raw, { statusCode } as Partial<IncomingMessage>);
    expect(
      downstreamHeaders(
        res(302, ['Location', '/next', 'Set-Cookie', 'paddock_preview_token=p', 'Set-Cookie', 'a=1', 'Transfer-Encoding', 'chunked', 'Connection', 'close, X-Hop', 'X-Hop', '1']),
        target,
      ),
    ).toEqual({ location: `${target.prefix}/next`, 'set-cookie': ['a=1'] });
    expect(downstreamHeaders(res(302, ['Location', '//other/x']), target)).toEqual({ location: '//other/x' });
    expect(downstreamHeaders(res(302, ['Location', '/x']), { ...target, prefix: '' })).toEqual({ location: '/x' });
    expect(downstreamHeaders(res(101, ['Connection', 'Upgrade', 'Upgrade', 'websocket']), target)).toEqual({ connection: 'Upgrade', upgrade: 'websocket' });
  });
});

describe('preview host names', () => {
  const rewrite = previewHostRewrite('preview.example')!;
  const req = (host: string, url = '/p?q=1') => ({ headers: { host }, url }) as unknown as IncomingMessage;

  test('<port>-<id>.<domain> (any runner port, any case) goes to that port with the path unchanged', () => {
    const r = req(`8080-${ID.toUpperCase().replace('SBX_', 'sbx_')}.Preview.Example:3000`);
    expect(rewrite(r)).toBe(`/v1/sandboxes/${ID}/ports/8080/p?q=1`);
    expect(hostTarget(r)).toEqual({ id: ID, port: 8080 });
  });

  test('other names under the domain are refused; names outside it are left alone', () => {
    for (const host of [`0-${ID}`, `65536-${ID}`, `080-${ID}`, `8080-${ID}x`, `8080-sbx_short`, `x.8080-${ID}`, `8080_${ID}`, 'www']) {
      expect(rewrite(req(`${host}.preview.example`)), host).toBe(BAD_PREVIEW_HOST_PATH);
    }
    expect(rewrite(req(`8080-${ID}.preview.example`, '*'))).toBe(BAD_PREVIEW_HOST_PATH);
    expect(rewrite(req('preview.example'))).toBe('/p?q=1');
    expect(rewrite(req(`8080-${ID}.preview.example.evil`))).toBe('/p?q=1');
    expect(previewHostRewrite('')).toBeUndefined();
  });

  test('ports are 1–65535 written plainly', () => {
    expect([parsePort('1'), parsePort('65535'), parsePort('65536'), parsePort('0'), parsePort('01'), parsePort('+1'), parsePort('1e3')]).toEqual([
      1, 65535, undefined, undefined, undefined, undefined, undefined,
    ]);
  });
});

describe('sandboxes.preview_domain', () => {
  const load = (preview_domain: string) => loadConfig({ env: {}, flags: { sandboxes: { preview_domain } } }).sandboxes.preview_domain;

  test('a DNS name, lower-cased, without outer dots; empty is off; anything else names the key', () => {
    expect(load(' .Preview.Example.COM. ')).toBe('preview.example.com');
    expect(load('localhost')).toBe('localhost');
    expect(load('')).toBe('');
    expect(loadConfig({ env: {} }).sandboxes.preview_domain).toBe('');
    for (const bad of ['a_b.example', 'a..b', '-a.example', 'a.example/x', 'a.example:80']) {
      expect(() => load(bad), bad).toThrow(/sandboxes\.preview_domain/);
    }
  });
});
