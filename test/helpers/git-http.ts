import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * A loopback git server for tests: `git http-backend` run as CGI behind a Node http server, so
 * clients speak git's real smart HTTP protocol (v0 and v2, gzip bodies, chunked pushes).
 */

export interface GitHttpServer {
  url: string;
  /** Every request served so far (`GET /o/r.git/info/refs?service=git-upload-pack`), to tell a cold fetch from a warm one. */
  requests: Array<{ method: string; path: string; status: number; encoding?: string; chunked?: boolean }>;
  close(): Promise<void>;
}

/** git without the user's or system's config: tests must not depend on the host's ~/.gitconfig. */
export function gitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'Test Author',
    GIT_AUTHOR_EMAIL: 'author@example.test',
    GIT_COMMITTER_NAME: 'Test Author',
    GIT_COMMITTER_EMAIL: 'author@example.test',
    ...extra,
  };
}

export function startGitHttp(opts: { root: string; token?: string }): Promise<GitHttpServer> {
  const requests: GitHttpServer['requests'] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const entry: GitHttpServer['requests'][number] = { method: req.method ?? 'GET', path: `${url.pathname}${url.search}`, status: 0 };
    if (req.headers['content-encoding']) entry.encoding = String(req.headers['content-encoding']);
    if (req.headers['transfer-encoding'] === 'chunked') entry.chunked = true;
    requests.push(entry);
    res.on('finish', () => (entry.status = res.statusCode));
    let user = '';
    if (opts.token !== undefined) {
      user = basicUser(req.headers.authorization, opts.token) ?? '';
      if (!user) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"', 'Content-Type': 'text/plain' });
        res.end('authentication required\n');
        return;
      }
    }
    if (url.pathname.split('/').includes('..')) {
      res.writeHead(400).end();
      return;
    }
    serveCgi(req, res, url, opts.root, user);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        requests,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

/** The username of a Basic credential whose password is `token` (git sends any username we accept). */
function basicUser(header: string | undefined, token: string): string | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0 || decoded.slice(colon + 1) !== token) return undefined;
  return decoded.slice(0, colon) || 'git';
}

function serveCgi(req: http.IncomingMessage, res: http.ServerResponse, url: URL, root: string, user: string): void {
  const h = req.headers;
  const env = gitEnv({
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    // Pushes are allowed without REMOTE_USER too: tests push to servers without a token.
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'http.receivepack',
    GIT_CONFIG_VALUE_0: 'true',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.slice(1),
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    ...(user ? { REMOTE_USER: user, AUTH_TYPE: 'Basic' } : {}),
    ...(h['content-type'] ? { CONTENT_TYPE: h['content-type'] } : {}),
    // Chunked bodies have no length; http-backend then reads to EOF.
    ...(h['content-length'] ? { CONTENT_LENGTH: h['content-length'] } : {}),
    // http-backend inflates gzip request bodies itself when told the encoding.
    ...(h['content-encoding'] ? { HTTP_CONTENT_ENCODING: String(h['content-encoding']) } : {}),
    ...(h['git-protocol'] ? { GIT_PROTOCOL: String(h['git-protocol']) } : {}),
  });
  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 8192) stderr += d.toString();
  });
  child.on('error', () => {
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
  req.pipe(child.stdin);
  child.stdin.on('error', () => {});
  req.on('aborted', () => child.kill('SIGKILL'));
  res.on('close', () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  // CGI answer: header lines, a blank line, then the body, streamed through as it comes.
  let head = Buffer.alloc(0);
  let inBody = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (inBody) {
      if (!res.write(chunk)) {
        child.stdout.pause();
        res.once('drain', () => child.stdout.resume());
      }
      return;
    }
    head = Buffer.concat([head, chunk]);
    const crlf = head.indexOf('\r\n\r\n');
    const lf = head.indexOf('\n\n');
    const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf : lf;
    if (end < 0) return;
    const sep = end === crlf ? 4 : 2;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
      const i = line.indexOf(':');
      if (i < 0) continue;
      const name = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
      else headers[name] = value;
    }
    res.writeHead(status, headers);
    inBody = true;
    const rest = head.subarray(end + sep);
    if (rest.length) res.write(rest);
  });
  child.stdout.on('end', () => {
    if (!inBody) {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(`git http-backend gave no answer: ${stderr}`);
    } else res.end();
  });
}

function runGit(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`git ${args.join(' ')} exited ${code}: ${err}`)),
    );
    if (child.stdin) {
      child.stdin.on('error', () => {});
      child.stdin.end(input);
    }
  });
}

/** `git` with a test's env, for tests that inspect or prepare repositories. */
export function git(args: string[], opts: { cwd?: string; env?: Record<string, string>; input?: string } = {}): Promise<string> {
  const base = opts.cwd ? ['-C', opts.cwd] : [];
  return runGit([...base, ...args], gitEnv(opts.env), opts.input);
}

/**
 * A bare repository `<root>/<owner>/<repo>.git` with one commit holding `files`, written
 * straight into the object store (no work tree, no user config).
 */
export async function makeBareRepo(
  root: string,
  name: string,
  files: Record<string, string>,
  opts: { branch?: string } = {},
): Promise<{ dir: string; commit: string }> {
  const branch = opts.branch ?? 'main';
  const dir = path.join(root, `${name}.git`);
  await mkdir(path.dirname(dir), { recursive: true });
  await runGit(['init', '--quiet', '--bare', `--initial-branch=${branch}`, '--', dir], gitEnv());
  const tmp = await mkdtemp(path.join(tmpdir(), 'paddock-bare-'));
  try {
    const env = gitEnv({ GIT_DIR: dir, GIT_INDEX_FILE: path.join(tmp, 'index') });
    for (const [file, content] of Object.entries(files)) {
      const blob = await runGit(['hash-object', '-w', '--stdin'], env, content);
      await runGit(['update-index', '--add', '--cacheinfo', `100644,${blob},${file}`], env);
    }
    const tree = await runGit(['write-tree'], env);
    const commit = await runGit(['commit-tree', tree, '-m', 'initial'], env);
    await runGit(['update-ref', `refs/heads/${branch}`, commit], env);
    return { dir, commit };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
