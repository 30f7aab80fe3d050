import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FakeCredentials, type FakeApp, type Identity, makeApp } from './fake-github-auth.js';
import { proxyGit } from './fake-github-git.js';
import { type FakeComment, type FakeIssue, type FakePull, type FakeRepo, type FakeUser, nextId, now, Shapes } from './fake-github-state.js';
import { git, makeBareRepo, startGitHttp } from './git-http.js';

export { deliverWebhook } from './github-webhooks.js';
export type { FakeComment, FakeIssue, FakePull, FakeRepo, FakeUser };

/**
 * A fake GitHub on loopback, laid out as GitHub Enterprise is: the REST API under `/api/v3`
 * (`apiUrl`), git over smart HTTP at `<gitUrl>/<owner>/<repo>.git` with the same tokens. It keeps
 * repositories, issues, comments and pull requests in memory, each repository backed by a bare git
 * repository, and answers as GitHub documents: `401 Bad credentials`, `404 Not Found`, `422
 * Validation Failed` with `errors[]`, rate-limit headers. Every API request is recorded.
 */

export interface FakeGithubOptions {
  /** Personal tokens and the login each stands for. Default one random token for `paddock-user`. */
  tokens?: Record<string, string>;
  /** A GitHub App: its key pair is made here; installations map id → owner login. */
  app?: { id?: number; slug?: string; installations?: Record<number, string>; tokenTtlMs?: number };
}

export interface RecordedRequest {
  method: string;
  path: string;
  status: number;
  auth: Identity['kind'];
  body?: unknown;
}

export interface Fault {
  method?: string;
  path: RegExp;
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** How many requests it answers; default 1. */
  times?: number;
}

export interface FakeGithub {
  /** `api_url` for the config: `http://127.0.0.1:P/api/v3`. */
  apiUrl: string;
  /** `git_url` for the config: `http://127.0.0.1:P`. */
  gitUrl: string;
  /** The first personal token. */
  token: string;
  app: FakeApp | undefined;
  creds: FakeCredentials;
  requests: RecordedRequest[];
  gitRequests: Array<{ method: string; path: string; status: number; auth: string }>;
  addRepo(fullName: string, files: Record<string, string>, opts?: { branch?: string; private?: boolean }): Promise<{ dir: string; commit: string }>;
  addIssue(fullName: string, issue: { title: string; body?: string | null; labels?: string[]; user?: FakeUser; author_association?: string; state?: 'open' | 'closed'; comments?: Array<{ user: FakeUser | string; body: string; author_association?: string }> }): FakeIssue;
  addComment(fullName: string, number: number, comment: { user: FakeUser | string; body: string; author_association?: string }): FakeComment;
  repo(fullName: string): FakeRepo;
  /** The head commit of a branch in the backing bare repo, or undefined. */
  branchSha(fullName: string, branch: string): Promise<string | undefined>;
  repoUrl(fullName: string): string;
  /** The next matching API request(s) get this answer instead. */
  fault(f: Fault): void;
  close(): Promise<void>;
}

const DOCS = 'https://docs.github.com/rest';
const MAX_BODY = 1024 * 1024;

class HttpAnswer {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

const notFound = () => new HttpAnswer(404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
const invalid = (errors: unknown[], doc = DOCS) => new HttpAnswer(422, { message: 'Validation Failed', errors, documentation_url: doc, status: '422' });

export async function startFakeGithub(opts: FakeGithubOptions = {}): Promise<FakeGithub> {
  const root = await mkdtemp(path.join(tmpdir(), 'paddock-fake-github-'));
  const innerToken = randomBytes(16).toString('hex');
  const gitServer = await startGitHttp({ root, token: innerToken });
  const tokens = new Map(Object.entries(opts.tokens ?? { [`ghp_${randomBytes(18).toString('hex')}`]: 'paddock-user' }));
  const app = opts.app ? makeApp(opts.app) : undefined;
  const creds = new FakeCredentials(tokens, app);
  const repos = new Map<string, FakeRepo>();
  const requests: RecordedRequest[] = [];
  const gitRequests: FakeGithub['gitRequests'] = [];
  const faults: Fault[] = [];
  let remaining = 5000;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (!url.pathname.startsWith('/api/v3/')) {
      proxyGit(req, res, creds, { url: gitServer.url, token: innerToken }, (e) => gitRequests.push(e));
      return;
    }
    void serveApi(req, url).then(
      ({ answer, entry }) => {
        entry.status = answer.status;
        const text = answer.body === undefined ? '' : JSON.stringify(answer.body);
        remaining = Math.max(0, remaining - 1);
        res.writeHead(answer.status, {
          'content-type': 'application/json; charset=utf-8',
          'x-github-api-version-selected': '2022-11-28',
          'x-github-request-id': randomBytes(8).toString('hex').toUpperCase(),
          'x-ratelimit-limit': '5000',
          'x-ratelimit-remaining': String(remaining),
          'x-ratelimit-used': String(5000 - remaining),
          'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
          'x-ratelimit-resource': 'core',
          ...answer.headers,
        });
        res.end(text);
      },
      (err) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      },
    );
  });

  async function serveApi(req: http.IncomingMessage, url: URL): Promise<{ answer: HttpAnswer; entry: RecordedRequest }> {
    const method = req.method ?? 'GET';
    const route = url.pathname.slice('/api/v3'.length);
    const who = creds.identify(req.headers.authorization);
    const entry: RecordedRequest = { method, path: `${route}${url.search}`, status: 0, auth: who.kind };
    requests.push(entry);
    let body: unknown;
    try {
      body = await readJson(req);
    } catch {
      return { answer: new HttpAnswer(400, { message: 'Problems parsing JSON', documentation_url: DOCS, status: '400' }), entry };
    }
    if (body !== undefined) entry.body = body;
    const fault = faults.find((f) => (!f.method || f.method === method) && f.path.test(route));
    if (fault) {
      if ((fault.times = (fault.times ?? 1) - 1) <= 0) faults.splice(faults.indexOf(fault), 1);
      return { answer: new HttpAnswer(fault.status, fault.body ?? { message: 'fault', documentation_url: DOCS }, fault.headers), entry };
    }
    if (who.kind === 'bad') return { answer: new HttpAnswer(401, { message: who.message, documentation_url: DOCS, status: '401' }), entry };
    return { answer: await handle(method, route, url.searchParams, who, body), entry };
  }

  const shapes = () => new Shapes(apiUrl, gitUrl);

  async function handle(method: string, route: string, q: URLSearchParams, who: Identity, body: unknown): Promise<HttpAnswer> {
    const seg = route.split('/').slice(1).map(decodeURIComponent);
    const s = shapes();
    if (seg[0] === 'app') {
      // POST /app/installations/{id}/access_tokens: the App's JWT only.
      if (who.kind !== 'jwt') return new HttpAnswer(401, { message: 'A JSON web token could not be decoded', documentation_url: DOCS, status: '401' });
      if (method === 'POST' && seg[1] === 'installations' && seg[3] === 'access_tokens' && seg.length === 4) {
        const id = Number(seg[2]);
        if (!app!.installations.has(id)) return notFound();
        const { token, expires_at } = creds.mint(id);
        return new HttpAnswer(201, {
          token,
          expires_at,
          permissions: { contents: 'write', issues: 'write', metadata: 'read', pull_requests: 'write' },
          repository_selection: 'all',
        });
      }
      return notFound();
    }
    if (seg[0] !== 'repos' || seg.length < 3) return notFound();
    const repo = repos.get(`${seg[1]}/${seg[2]}`.toLowerCase());
    const rest = seg.slice(3);
    if (rest[0] === 'installation' && rest.length === 1 && method === 'GET') {
      if (who.kind !== 'jwt') return new HttpAnswer(401, { message: 'A JSON web token could not be decoded', documentation_url: DOCS, status: '401' });
      const found = [...app!.installations].find(([, owner]) => owner.toLowerCase() === seg[1]!.toLowerCase());
      if (!repo || !found) return notFound();
      return new HttpAnswer(200, {
        id: found[0],
        account: s.user({ login: found[1] }),
        app_id: app!.id,
        app_slug: app!.slug,
        target_type: 'User',
        repository_selection: 'all',
        access_tokens_url: `${apiUrl}/app/installations/${found[0]}/access_tokens`,
        permissions: { contents: 'write', issues: 'write', metadata: 'read', pull_requests: 'write' },
        events: ['issues', 'issue_comment'],
        created_at: now(),
        updated_at: now(),
      });
    }
    // A private repository is invisible, not forbidden, to whoever cannot see it.
    if (!repo || who.kind === 'jwt' || (repo.private && who.kind === 'none')) return notFound();
    if (method !== 'GET' && who.kind === 'none') return new HttpAnswer(401, { message: 'Requires authentication', documentation_url: DOCS, status: '401' });
    const login = who.kind === 'token' || who.kind === 'installation' ? who.login : 'ghost';
    const author = { login, type: who.kind === 'installation' ? ('Bot' as const) : ('User' as const) };

    if (rest.length === 0 && method === 'GET') return new HttpAnswer(200, s.repo(repo));
    if (rest[0] === 'issues' && rest[1] === 'comments' && rest.length === 3 && method === 'GET') {
      const c = [...repo.issues.values()].flatMap((i) => i.comments).find((x) => x.id === Number(rest[2]));
      return c ? new HttpAnswer(200, s.comment(repo, c)) : notFound();
    }
    if (rest[0] === 'issues' && rest.length >= 2) {
      const issue = repo.issues.get(Number(rest[1]));
      if (!issue) return notFound();
      if (rest.length === 2 && method === 'GET') return new HttpAnswer(200, s.issue(repo, issue));
      if (rest[2] === 'comments' && rest.length === 3 && method === 'GET') return page(issue.comments.map((c) => s.comment(repo, c)), q, `${apiUrl}${route}`);
      if (rest[2] === 'comments' && rest.length === 3 && method === 'POST') {
        const text = (body as { body?: unknown } | undefined)?.body;
        if (typeof text !== 'string' || text === '') return invalid([{ resource: 'IssueComment', code: 'missing_field', field: 'body' }]);
        if (text.length > 65536) return invalid([{ resource: 'IssueComment', code: 'custom', field: 'body', message: 'body is too long (maximum is 65536 characters)' }]);
        const c: FakeComment = { id: nextId(), issue: issue.number, user: author, body: text, author_association: 'CONTRIBUTOR', created_at: now() };
        issue.comments.push(c);
        return new HttpAnswer(201, s.comment(repo, c));
      }
      return notFound();
    }
    if (rest[0] === 'pulls' && rest.length === 1 && method === 'GET') {
      const state = q.get('state') ?? 'open';
      const head = q.get('head');
      const list = repo.pulls.filter(
        (p) => (state === 'all' || p.state === state) && (!head || head === `${repo.owner}:${p.head}` || head === p.head) && (!q.get('base') || q.get('base') === p.base),
      );
      return page(list.map((p) => s.pull(repo, p)), q, `${apiUrl}${route}`);
    }
    if (rest[0] === 'pulls' && rest.length === 1 && method === 'POST') return createPull(repo, body, author);
    // Octokit sends the ref as one encoded segment (`heads%2Fmain`); curl users send it as it is.
    const refPath = rest.slice(2).join('/');
    if (rest[0] === 'git' && rest[1] === 'ref' && refPath.startsWith('heads/') && method === 'GET') {
      const branch = refPath.slice('heads/'.length);
      const sha = await branchShaOf(repo, branch);
      if (!sha) return notFound();
      const full = `${repo.owner}/${repo.name}`;
      return new HttpAnswer(200, {
        ref: `refs/heads/${branch}`,
        node_id: `REF_${sha.slice(0, 8)}`,
        url: `${apiUrl}/repos/${full}/git/refs/heads/${branch}`,
        object: { sha, type: 'commit', url: `${apiUrl}/repos/${full}/git/commits/${sha}` },
      });
    }
    return notFound();
  }

  async function createPull(repo: FakeRepo, body: unknown, user: FakeUser): Promise<HttpAnswer> {
    const doc = 'https://docs.github.com/rest/pulls/pulls#create-a-pull-request';
    const b = (body ?? {}) as { title?: unknown; head?: unknown; base?: unknown; body?: unknown };
    for (const field of ['title', 'head', 'base'] as const) {
      if (typeof b[field] !== 'string' || b[field] === '') return invalid([{ resource: 'PullRequest', code: 'missing_field', field }], doc);
    }
    const headRaw = b.head as string;
    const head = headRaw.includes(':') ? headRaw.slice(headRaw.indexOf(':') + 1) : headRaw;
    const base = b.base as string;
    const [headSha, baseSha] = await Promise.all([branchShaOf(repo, head), branchShaOf(repo, base)]);
    if (!baseSha) return invalid([{ resource: 'PullRequest', field: 'base', code: 'invalid' }], doc);
    if (!headSha) return invalid([{ resource: 'PullRequest', field: 'head', code: 'invalid' }], doc);
    if (repo.pulls.some((p) => p.state === 'open' && p.head === head && p.base === base)) {
      return invalid([{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${repo.owner}:${head}.` }], doc);
    }
    if (headSha === baseSha) return invalid([{ resource: 'PullRequest', code: 'custom', message: `No commits between ${base} and ${head}` }], doc);
    const number = repo.nextNumber++;
    const pull: FakePull = { id: nextId(), number, title: b.title as string, body: typeof b.body === 'string' ? b.body : null, state: 'open', head, base, head_sha: headSha, base_sha: baseSha, user, created_at: now() };
    repo.pulls.push(pull);
    repo.issues.set(number, { id: nextId(), number, title: pull.title, body: pull.body, state: 'open', labels: [], user, author_association: 'NONE', comments: [], pull, created_at: pull.created_at });
    return new HttpAnswer(201, shapes().pull(repo, pull));
  }

  async function branchShaOf(repo: FakeRepo, branch: string): Promise<string | undefined> {
    if (!/^[A-Za-z0-9._/-]+$/.test(branch) || branch.startsWith('-')) return undefined;
    try {
      return await git(['--git-dir', repo.dir, 'rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`]);
    } catch {
      return undefined;
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const gitUrl = `http://127.0.0.1:${port}`;
  const apiUrl = `${gitUrl}/api/v3`;

  const repoOf = (fullName: string): FakeRepo => {
    const r = repos.get(fullName.toLowerCase());
    if (!r) throw new Error(`fake GitHub has no repository ${fullName}`);
    return r;
  };
  const userOf = (u: FakeUser | string): FakeUser => (typeof u === 'string' ? { login: u } : u);

  return {
    apiUrl,
    gitUrl,
    token: [...tokens.keys()][0] ?? '',
    app,
    creds,
    requests,
    gitRequests,
    async addRepo(fullName, files, o = {}) {
      const [owner, name] = fullName.split('/') as [string, string];
      const made = await makeBareRepo(root, fullName, files, o.branch ? { branch: o.branch } : {});
      repos.set(fullName.toLowerCase(), {
        id: nextId(),
        owner,
        name,
        private: o.private ?? true,
        default_branch: o.branch ?? 'main',
        dir: made.dir,
        issues: new Map(),
        pulls: [],
        nextNumber: 1,
      });
      return made;
    },
    addIssue(fullName, i) {
      const repo = repoOf(fullName);
      const number = repo.nextNumber++;
      const issue: FakeIssue = {
        id: nextId(),
        number,
        title: i.title,
        body: i.body === undefined ? '' : i.body,
        state: i.state ?? 'open',
        labels: i.labels ?? [],
        user: i.user ?? { login: repo.owner },
        author_association: i.author_association ?? 'OWNER',
        comments: [],
        created_at: now(),
      };
      repo.issues.set(number, issue);
      for (const c of i.comments ?? []) this.addComment(fullName, number, c);
      return issue;
    },
    addComment(fullName, number, c) {
      const issue = repoOf(fullName).issues.get(number);
      if (!issue) throw new Error(`fake GitHub has no issue ${fullName}#${number}`);
      const comment: FakeComment = { id: nextId(), issue: number, user: userOf(c.user), body: c.body, author_association: c.author_association ?? 'CONTRIBUTOR', created_at: now() };
      issue.comments.push(comment);
      return comment;
    },
    repo: repoOf,
    branchSha: (fullName, branch) => branchShaOf(repoOf(fullName), branch),
    repoUrl: (fullName) => `${gitUrl}/${fullName}.git`,
    fault: (f) => void faults.push(f),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await gitServer.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** A page of a list, `per_page` (≤ 100, default 30) and `page`, with the Link header GitHub sends. */
function page(items: unknown[], q: URLSearchParams, base: string): HttpAnswer {
  const perPage = Math.min(100, Math.max(1, Number(q.get('per_page') ?? 30) || 30));
  const n = Math.max(1, Number(q.get('page') ?? 1) || 1);
  const last = Math.max(1, Math.ceil(items.length / perPage));
  const link = (p: number, rel: string) => `<${base}?per_page=${perPage}&page=${p}>; rel="${rel}"`;
  const links = [n < last ? link(n + 1, 'next') : '', n < last ? link(last, 'last') : '', n > 1 ? link(1, 'first') : '', n > 1 ? link(n - 1, 'prev') : ''].filter(Boolean);
  return new HttpAnswer(200, items.slice((n - 1) * perPage, n * perPage), links.length ? { link: links.join(', ') } : {});
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.destroy();
        reject(new Error('too large'));
      } else chunks.push(c);
    });
    req.on('error', reject);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(err);
      }
    });
  });
}
