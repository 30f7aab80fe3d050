import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GithubConfig } from '../../src/config/github.js';
import { githubClient, type Octokit } from '../../src/github/client.js';
import { createLogger } from '../../src/util/log.js';

/** One canned answer: status, JSON body, extra headers. */
export type Answer = [number, unknown, Record<string, string>?];

/**
 * A loopback server answering GitHub REST paths with canned answers (`METHOD /path?query` first,
 * then `METHOD /path`), 404 `{message: "Not Found"}` otherwise, as GitHub's errors are shaped; it
 * records what it was asked. For unit tests of one REST call's handling.
 */
export async function startRestStub(): Promise<{
  answers: Map<string, Answer>;
  seen: { method: string; path: string; body: unknown }[];
  octokit: () => Octokit;
  close: () => Promise<void>;
}> {
  const answers = new Map<string, Answer>();
  const seen: { method: string; path: string; body: unknown }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method!, path: req.url!, body: body ? JSON.parse(body) : undefined });
      const path = req.url!.split('?')[0];
      const [status, data, headers] = answers.get(`${req.method} ${req.url}`) ??
        answers.get(`${req.method} ${path}`) ?? [404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' }];
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(status === 204 ? undefined : JSON.stringify(data));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    answers,
    seen,
    octokit: () => githubClient(GithubConfig.parse({ api_url: url, token: 'ghp_' + 'a'.repeat(36) }), createLogger('silent')),
    close: () => new Promise((r) => server.close(() => r())),
  };
}
