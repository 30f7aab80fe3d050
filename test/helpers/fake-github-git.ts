import http from 'node:http';
import type { FakeCredentials } from './fake-github-auth.js';

/**
 * git over HTTPS as github.com takes it: Basic auth whose password is a token the API would take
 * (a personal token or an unexpired installation token), then the smart HTTP protocol, here
 * forwarded to `git http-backend` (test/helpers/git-http.ts) which holds its own token.
 */
export function proxyGit(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  creds: FakeCredentials,
  upstream: { url: string; token: string },
  record: (entry: { method: string; path: string; status: number; auth: string }) => void,
): void {
  const who = creds.identify(req.headers.authorization);
  const entry = { method: req.method ?? 'GET', path: req.url ?? '/', status: 0, auth: who.kind };
  record(entry);
  res.on('finish', () => (entry.status = res.statusCode));
  if (who.kind !== 'token' && who.kind !== 'installation') {
    // What github.com answers a git client without (valid) credentials.
    res.writeHead(401, { 'www-authenticate': 'Basic realm="GitHub"', 'content-type': 'text/plain' });
    res.end(who.kind === 'none' ? 'Authentication required\n' : 'Invalid username or token. Password authentication is not supported for Git operations.\n');
    return;
  }
  const headers = { ...req.headers };
  delete headers.host;
  headers.authorization = `Basic ${Buffer.from(`x-access-token:${upstream.token}`).toString('base64')}`;
  const target = new URL(req.url ?? '/', upstream.url);
  const out = http.request(target, { method: req.method, headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  out.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(out);
  res.on('close', () => out.destroy());
}
