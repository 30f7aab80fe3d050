import { PaddockError } from '../errors.js';

/**
 * Grammars of what an agent job names: repositories, refs, issues, models and tools. Each of these
 * reaches git's or the CLI's argv or GitHub's URL paths, so only strings that cannot be read as an
 * option, a path segment or a transport (`ext::`, `fd::`) pass.
 */

/** `owner/repo#N`, as GitHub spells owners and repositories. */
export const ISSUE_REF_RE = /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))\/([A-Za-z0-9_.-]{1,100})#([1-9][0-9]{0,9})$/;

export interface IssueRef {
  owner: string;
  repo: string;
  number: number;
}

export function parseIssueRef(text: string): IssueRef {
  const m = ISSUE_REF_RE.exec(text);
  if (!m || m[2] === '.' || m[2] === '..') {
    throw new PaddockError('validation_failed', `"${text}" is not an issue reference owner/repo#N`, { field: 'github_issue' });
  }
  return { owner: m[1]!, repo: m[2]!, number: Number(m[3]) };
}

/**
 * A branch or tag name as `git check-ref-format --branch` takes it, minus what git allows but
 * a command line should not see: a leading `-`, and anything outside printable ASCII.
 */
export function isGitRefName(ref: string): boolean {
  if (ref.length === 0 || ref.length > 255 || ref.startsWith('-') || ref === '@' || ref === 'HEAD') return false;
  if (!/^[\x21-\x7e]+$/.test(ref) || /[~^:?*[\\]/.test(ref)) return false;
  if (ref.includes('..') || ref.includes('@{') || ref.includes('//') || ref.endsWith('/') || ref.endsWith('.')) return false;
  return ref.split('/').every((part) => part.length > 0 && !part.startsWith('.') && !part.endsWith('.lock'));
}

/** A ref to check out: a branch or tag name, or a full or abbreviated commit id. */
export function isCheckoutRef(ref: string): boolean {
  return /^[0-9a-f]{7,64}$/.test(ref) || isGitRefName(ref);
}

/** Model names as Anthropic and its proxies spell them (`claude-sonnet-4-5`, `us.anthropic.claude…:0`). */
export const MODEL_RE = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/;

/** A tool rule for `--allowedTools`: `Bash`, `Bash(git diff:*)`, `mcp__server__tool`, `Edit(/src/**)`. */
export const TOOL_RULE_RE = /^[A-Za-z][A-Za-z0-9_-]{0,99}(?:\([^\p{Cc}()]{1,400}\))?$/u;

export interface RepoUrlPolicy {
  /** `file://` URLs and absolute local paths. */
  allowLocal: boolean;
  /** Plain `http://`. */
  allowHttp: boolean;
}

const PATH_RE = /^\/[A-Za-z0-9._~+/-]*$/;

/**
 * Checks a repository URL and returns it normalised (`https://host/owner/repo.git` stays as given).
 * Refused: credentials in the URL (they would be stored with the job), query and fragment, `..`
 * segments, other transports (`ssh`, `git`, `ext::`), and local ones unless the policy allows them.
 */
export function checkRepoUrl(url: string, policy: RepoUrlPolicy): string {
  const bad = (why: string) =>
    new PaddockError('validation_failed', `repo_url ${JSON.stringify(url.slice(0, 200))}: ${why}`, { field: 'repo_url' });
  if (url.length > 2048 || !/^[\x21-\x7e]+$/.test(url)) throw bad('must be printable ASCII without spaces, at most 2048 characters');
  if (url.startsWith('/')) {
    if (!policy.allowLocal) throw bad('local repositories are not allowed here (agents.repos.allow_local)');
    return checkPath(url, bad);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw bad('must be an https:// URL');
  }
  // What git gets is the string, not what URL made of it: URL resolves `..` and `%2e%2e` and reads
  // `\` as `/`, git and curl need not. So the raw parts must be what URL parsed, unchanged.
  const raw = /^([a-z]+):\/\/([^/]*)(\/.*)?$/i.exec(url);
  if (parsed.protocol === 'file:') {
    if (!policy.allowLocal) throw bad('file:// repositories are not allowed here (agents.repos.allow_local)');
    if (!raw || raw[2] !== '' || parsed.host !== '') throw bad('file:// URLs must not name a host');
    if (raw[3] !== parsed.pathname) throw bad('path must be letters, digits and . _ ~ + / -, without . or .. segments');
    checkPath(parsed.pathname, bad);
    return url;
  }
  if (parsed.protocol === 'http:' && !policy.allowHttp) throw bad('plain http:// is not allowed here (agents.repos.allow_http)');
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw bad('must be an https:// URL');
  if (parsed.username || parsed.password || raw?.[2]?.includes('@')) {
    throw bad('must not carry credentials; Paddock authenticates git itself');
  }
  if (parsed.search || parsed.hash || url.includes('?') || url.includes('#')) throw bad('must not have a query or fragment');
  if (!raw || raw[2]!.toLowerCase() !== parsed.host || !HOST_RE.test(parsed.host)) {
    throw bad('must name a host as letters, digits, . and -, with an optional port');
  }
  if (parsed.pathname === '/' || raw[3] !== parsed.pathname || !PATH_RE.test(parsed.pathname)) {
    throw bad('must name a repository path of letters, digits and . _ ~ + / -');
  }
  checkPath(parsed.pathname, bad);
  return url;
}

/** A DNS name or IPv4 address, or a bracketed IPv6 one, and a port; never starting with `-`. */
const HOST_RE = /^(?:[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?|\[[0-9a-f:.]{2,45}\])(?::[1-9][0-9]{0,4})?$/;

function checkPath(p: string, bad: (why: string) => PaddockError): string {
  if (!PATH_RE.test(p)) throw bad('path must be letters, digits and . _ ~ + / -');
  if (p.split('/').some((seg) => seg === '.' || seg === '..')) throw bad('path must not have . or .. segments');
  return p;
}
