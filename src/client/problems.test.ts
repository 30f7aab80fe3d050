import { describe, expect, it } from 'vitest';
import { PaddockError } from '../errors.js';
import { errorFromResponse, MAX_PROBLEM_BYTES, problemToError } from './problems.js';

describe('problemToError', () => {
  it('keeps the stable code, the detail as message, the status, and the extra members as details', () => {
    const e = problemToError(429, {
      type: 'urn:paddock:error:quota_exceeded',
      title: 'A quota of this token is used up',
      status: 429,
      detail: 'max_sandboxes reached',
      code: 'quota_exceeded',
      quota: 'max_sandboxes',
    }, new Headers({ 'retry-after': '7' }));
    expect(e).toBeInstanceOf(PaddockError);
    expect(e.code).toBe('quota_exceeded');
    expect(e.message).toBe('max_sandboxes reached');
    expect(e.status).toBe(429);
    expect(e.details).toEqual({ quota: 'max_sandboxes', retry_after_s: 7 });
    expect(e.retryAfterS).toBe(7);
  });

  it('maps by status when the code is unknown to this client, and keeps the server code', () => {
    const e = problemToError(409, { code: 'some_new_code', detail: 'x', state: 'paused' });
    expect(e.code).toBe('conflict');
    expect(e.details).toEqual({ server_code: 'some_new_code', state: 'paused' });
  });

  it.each([
    [400, 'validation_failed'],
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [404, 'not_found'],
    [413, 'payload_too_large'],
    [429, 'overloaded'],
    [502, 'internal'],
    [503, 'unreachable'],
  ])('a bare %i is %s', (status, code) => {
    const e = problemToError(status, undefined);
    expect(e.code).toBe(code);
    expect(e.message).toBe(`HTTP ${status}`);
    expect(e.details).toBeUndefined();
  });
});

describe('errorFromResponse', () => {
  it('reads a problem+json body', async () => {
    const res = new Response(JSON.stringify({ code: 'not_found', detail: 'no sandbox sbx_1' }), {
      status: 404,
      headers: { 'content-type': 'application/problem+json' },
    });
    const e = await errorFromResponse(res);
    expect([e.code, e.message]).toEqual(['not_found', 'no sandbox sbx_1']);
  });

  it('maps a non-JSON body by its status', async () => {
    const e = await errorFromResponse(new Response('<html>bad gateway</html>', { status: 401 }));
    expect([e.code, e.message]).toEqual(['unauthorized', 'HTTP 401']);
  });

  it('stops reading a body past the cap (and does not take its code)', async () => {
    let pulled = 0;
    const huge = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled++;
        c.enqueue(new TextEncoder().encode(`{"code":"conflict","detail":"${'x'.repeat(16 * 1024)}`));
      },
    });
    const e = await errorFromResponse(new Response(huge, { status: 400 }));
    expect(e.code).toBe('validation_failed');
    expect(pulled * 16 * 1024).toBeLessThan(MAX_PROBLEM_BYTES * 2);
  });
});
