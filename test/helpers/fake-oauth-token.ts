import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Anthropic's OAuth token endpoint (`POST /v1/oauth/token`) for the refresh_token grant, on
 * 127.0.0.1, answering as the real one does (shapes from Claude Code 2.1.197's client and
 * reported responses): 200 `{token_type:"Bearer", access_token, expires_in, refresh_token, scope,
 * organization, account}` with a rotated refresh token; 400 `{"error":"invalid_grant",
 * "error_description":"Refresh token not found or invalid"}` for a refresh token it does not hold
 * (a spent one among them); 400 `invalid_request` for a body that is not a JSON refresh grant.
 */
export interface FakeTokenEndpoint {
  url: string;
  /** Every request's parsed JSON body (or raw text). */
  requests: Array<{ headers: http.IncomingHttpHeaders; body: any }>;
  /** Makes `refresh` a refresh token it accepts, answering with these tokens. */
  accept(refresh: string, next: { access: string; refresh?: string; expiresIn?: number }): void;
  /** Answers every request with this status and body instead. */
  failWith(status: number | null, body?: unknown): void;
  /** Holds each answer this long. */
  delayMs: number;
  close(): Promise<void>;
}

export async function startFakeTokenEndpoint(): Promise<FakeTokenEndpoint> {
  const grants = new Map<string, { access: string; refresh?: string; expiresIn?: number }>();
  const requests: FakeTokenEndpoint['requests'] = [];
  let failure: { status: number; body: unknown } | null = null;
  const state = { delayMs: 0 };
  const server = http.createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8').on('data', (c: string) => (text += c));
    req.on('end', () => {
      let body: any = text;
      try {
        body = JSON.parse(text);
      } catch {
        // recorded as text
      }
      requests.push({ headers: req.headers, body });
      const send = (status: number, json: unknown) =>
        setTimeout(() => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(json));
        }, state.delayMs);
      if (failure) return send(failure.status, failure.body);
      if (req.method !== 'POST' || req.url !== '/v1/oauth/token') return send(404, { error: { type: 'not_found_error', message: 'Not Found' } });
      if (typeof body !== 'object' || body === null || body.grant_type !== 'refresh_token' || typeof body.refresh_token !== 'string' || !body.client_id) {
        return send(400, { error: 'invalid_request', error_description: 'Invalid request format' });
      }
      const g = grants.get(body.refresh_token);
      if (!g) return send(400, { error: 'invalid_grant', error_description: 'Refresh token not found or invalid' });
      // A refresh token is spent once used when a new one is issued (rotation).
      if (g.refresh) grants.delete(body.refresh_token);
      send(200, {
        token_type: 'Bearer',
        access_token: g.access,
        expires_in: g.expiresIn ?? 28_800,
        ...(g.refresh ? { refresh_token: g.refresh } : {}),
        scope: typeof body.scope === 'string' ? body.scope : 'user:inference user:profile',
        organization: { uuid: '00000000-0000-4000-8000-000000000001', name: 'Test org' },
        account: { uuid: '00000000-0000-4000-8000-000000000002', email_address: 'dev@example.com' },
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/oauth/token`,
    requests,
    accept: (refresh, next) => void grants.set(refresh, next),
    failWith: (status, body) => (failure = status === null ? null : { status, body }),
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(v: number) {
      state.delayMs = v;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
