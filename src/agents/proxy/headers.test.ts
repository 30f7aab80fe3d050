import { describe, expect, it } from 'vitest';
import { downstreamHeaders, upstreamHeaders } from './headers.js';

describe('upstreamHeaders', () => {
  it("drops the client's credentials and hop-by-hop headers and adds the proxy's", () => {
    const h = upstreamHeaders(
      {
        'x-api-key': 'x',
        authorization: 'Bearer x',
        cookie: 'a=b',
        connection: 'keep-alive, x-secret-hop',
        'x-secret-hop': '1',
        host: 'evil',
        'accept-encoding': 'gzip, br',
        'anthropic-version': '2023-06-01',
        'anthropic-beta': 'claude-code-20250219,oauth-2025-04-20',
        'content-type': 'application/json',
        'content-length': '12',
      },
      { Authorization: 'Bearer real', 'anthropic-beta': 'oauth-2025-04-20' },
    );
    expect(h).toEqual({
      authorization: 'Bearer real',
      'accept-encoding': 'identity',
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'claude-code-20250219,oauth-2025-04-20',
      'content-type': 'application/json',
      'content-length': '12',
    });
  });
});

describe('downstreamHeaders', () => {
  it('keeps what the SDK reads, redacted, and nothing else', () => {
    const h = downstreamHeaders(
      {
        'content-type': 'text/event-stream',
        'request-id': 'req_1',
        'retry-after': '3',
        'x-should-retry': 'true',
        'anthropic-ratelimit-requests-remaining': '9',
        'set-cookie': ['s=1'],
        'anthropic-organization-id': 'org',
        'x-debug': 'key sk-ant-SECRETVALUE',
        'request-id-echo': 'sk-ant-SECRETVALUE',
      },
      ['sk-ant-SECRETVALUE'],
    );
    expect(h).toEqual({
      'content-type': 'text/event-stream',
      'request-id': 'req_1',
      'retry-after': '3',
      'x-should-retry': 'true',
      'anthropic-ratelimit-requests-remaining': '9',
    });
  });
});
