import { spawn } from 'node:child_process';
import { PaddockError } from '../../errors.js';
import { redactText } from '../redact.js';

/** A password in an auth header may be short; it is redacted all the same. */
const AUTH_SECRET_MIN = 4;

/**
 * One git process, as every repository operation runs it: an argv array (no shell), an environment
 * holding nothing of the runner's but PATH and proxy settings, no user or system config, no hooks,
 * no credential helpers or prompts, only the transports the policy allows, bounded output, and killed
 * (its whole process group: git-remote-https, upload-pack) on timeout or abort.
 */

/** Credentials for one git operation: an HTTP header git sends, handed over through its environment only. */
export interface GitAuth {
  header: string;
}

/** `Authorization: Basic base64(user:password)`, as GitHub takes a token (`x-access-token:<token>`). */
export function basicAuth(user: string, password: string): GitAuth {
  if (!/^[\x21-\x7e]{1,256}$/.test(user) || user.includes(':')) {
    throw new PaddockError('validation_failed', 'git username must be printable ASCII without ":"');
  }
  if (!/^[\x20-\x7e]{1,8192}$/.test(password)) throw new PaddockError('validation_failed', 'git password must be printable ASCII');
  return { header: `Authorization: Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

const HEADER_RE = /^[A-Za-z0-9-]{1,64}: ?[\x20-\x7e]{1,16384}$/;

/** Strings derived from an auth header that must not appear in anything we report. */
export function authSecrets(auth: GitAuth | undefined): string[] {
  if (!auth) return [];
  const out = [auth.header];
  const value = auth.header.slice(auth.header.indexOf(':') + 1).trim();
  out.push(value);
  const m = /^(\S+)\s+(\S+)$/.exec(value);
  if (m) {
    out.push(m[2]!);
    if (m[1]!.toLowerCase() === 'basic') {
      const decoded = Buffer.from(m[2]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon >= 0) out.push(decoded.slice(colon + 1));
    }
  }
  return out.filter((s) => s.length >= AUTH_SECRET_MIN).sort((a, b) => b.length - a.length);
}


export interface GitOptions {
  cwd?: string;
  auth?: GitAuth;
  input?: Buffer | string;
  signal?: AbortSignal;
  /** Transports this call may use besides https (the policy's, or `file` for the cache's own mirrors). */
  allow?: { http?: boolean; file?: boolean };
  /** Author and committer, for commits. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface GitResult {
  code: number;
  stdout: string;
  /** Bounded (head and tail) and redacted of the auth header. */
  stderr: string;
}

/** What the runner's environment may pass to git: the way out to the network, nothing else. */
const PASSED_ENV = [
  ...['PATH', 'http_proxy', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY', 'all_proxy', 'ALL_PROXY'],
  ...['SSL_CERT_FILE', 'SSL_CERT_DIR'],
];

const STDOUT_MAX = 1024 * 1024;
const STDERR_HEAD = 4096;
const STDERR_TAIL = 4096;

export class GitRunner {
  constructor(private readonly opts: { home: string; timeoutMs: number }) {}

  /**
   * Runs `git <args>`; resolves with its exit code and output whatever the code, throws
   * `repo_timeout` past the timeout and the signal's reason when aborted.
   */
  run(args: string[], o: GitOptions = {}): Promise<GitResult> {
    if (o.auth && !HEADER_RE.test(o.auth.header)) {
      return Promise.reject(new PaddockError('validation_failed', 'git auth header must be one printable "Name: value" line'));
    }
    if (o.signal?.aborted) return Promise.reject(abortReason(o.signal));
    const secrets = authSecrets(o.auth);
    const env: NodeJS.ProcessEnv = {
      HOME: this.opts.home,
      XDG_CONFIG_HOME: this.opts.home,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_TERMINAL_PROMPT: '0',
      GIT_ASKPASS: '/bin/false',
      SSH_ASKPASS: '/bin/false',
      GIT_PROTOCOL_FROM_USER: '0',
      LC_ALL: 'C',
      ...o.env,
    };
    for (const k of PASSED_ENV) if (process.env[k] !== undefined) env[k] = process.env[k];
    if (o.auth) {
      // Through the environment, so it is in no argv (ps) and in no config file.
      Object.assign(env, { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: o.auth.header });
    }
    const config = [
      'protocol.allow=never',
      'protocol.https.allow=always',
      ...(o.allow?.http ? ['protocol.http.allow=always'] : []),
      ...(o.allow?.file ? ['protocol.file.allow=always'] : []),
      'core.hooksPath=/dev/null',
      'credential.helper=',
      'core.fsmonitor=false',
      'submodule.recurse=false',
      'fetch.recurseSubmodules=false',
      // Auto gc may run, but in the foreground: inside our lock and our kill.
      'gc.autoDetach=false',
      'commit.gpgSign=false',
      'advice.detachedHead=false',
      'init.defaultBranch=main',
      'protocol.version=2',
    ];
    const argv = [...config.flatMap((c) => ['-c', c]), ...args];
    const timeoutMs = o.timeoutMs ?? this.opts.timeoutMs;

    return new Promise((resolve, reject) => {
      const child = spawn('git', argv, { cwd: o.cwd, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
      let stdout = '';
      let stdoutBytes = 0;
      let errHead = '';
      let errTail = '';
      let errCut = false;
      let ended: PaddockError | Error | undefined;
      const kill = () => {
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      };
      const timer = setTimeout(() => {
        ended = new PaddockError('repo_timeout', `git ${args[0]} took longer than ${timeoutMs} ms`, { timeout_ms: timeoutMs });
        kill();
      }, timeoutMs);
      const onAbort = () => {
        ended = abortReason(o.signal!);
        kill();
      };
      o.signal?.addEventListener('abort', onAbort, { once: true });
      child.stdout.on('data', (d: Buffer) => {
        if (stdoutBytes < STDOUT_MAX) stdout += d.toString('utf8', 0, Math.min(d.length, STDOUT_MAX - stdoutBytes));
        stdoutBytes += d.length;
      });
      child.stderr.on('data', (d: Buffer) => {
        let s = d.toString('utf8');
        if (errHead.length < STDERR_HEAD) {
          const take = s.slice(0, STDERR_HEAD - errHead.length);
          errHead += take;
          s = s.slice(take.length);
        }
        if (!s) return;
        errTail += s;
        if (errTail.length > STDERR_TAIL) {
          errTail = errTail.slice(-STDERR_TAIL);
          errCut = true;
        }
      });
      child.stdin.on('error', () => {});
      child.stdin.end(o.input);
      child.on('error', (err) => {
        ended = ended ?? new PaddockError('internal', `could not run git: ${err.message}`);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        if (ended) return reject(ended);
        const stderr = redactText(errCut ? `${errHead}\n[…]\n${errTail}` : errHead + errTail, secrets, AUTH_SECRET_MIN).trim();
        resolve({ code: code ?? -1, stdout: redactText(stdout, secrets, AUTH_SECRET_MIN), stderr });
      });
    });
  }
}

export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('The operation was aborted', 'AbortError');
}
