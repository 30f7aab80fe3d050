import { describe, expect, it } from 'vitest';
import { PaddockError } from '../errors.js';
import { checkRepoUrl, isCheckoutRef, isGitRefName, MODEL_RE, parseIssueRef, TOOL_RULE_RE } from './grammar.js';

const strict = { allowLocal: false, allowHttp: false };
const loose = { allowLocal: true, allowHttp: true };

function refused(url: string, policy = loose): PaddockError {
  try {
    checkRepoUrl(url, policy);
  } catch (err) {
    expect(err).toBeInstanceOf(PaddockError);
    expect((err as PaddockError).code).toBe('validation_failed');
    expect((err as PaddockError).details).toEqual({ field: 'repo_url' });
    return err as PaddockError;
  }
  throw new Error(`${url} was accepted`);
}

describe('checkRepoUrl', () => {
  it.each([
    'https://github.com/octo/hello.git',
    'https://github.com/octo/hello',
    'https://git.example.com:8443/group/sub/repo.git',
    'https://GitHub.com/octo/hello.git',
    'https://[::1]:8443/a/b.git',
    'https://github.com/o/r~x+y_z.git',
  ])('accepts %s and returns it unchanged', (url) => expect(checkRepoUrl(url, strict)).toBe(url));

  it('accepts http, file:// and absolute paths only when the policy allows them', () => {
    expect(refused('http://127.0.0.1:9/o/r.git', strict).message).toMatch(/allow_http/);
    expect(refused('file:///srv/git/r.git', strict).message).toMatch(/allow_local/);
    expect(refused('/srv/git/r.git', strict).message).toMatch(/allow_local/);
    expect(checkRepoUrl('http://127.0.0.1:9/o/r.git', loose)).toBe('http://127.0.0.1:9/o/r.git');
    expect(checkRepoUrl('file:///srv/git/r.git', loose)).toBe('file:///srv/git/r.git');
    expect(checkRepoUrl('/srv/git/r.git', loose)).toBe('/srv/git/r.git');
  });

  it.each([
    ['credentials', 'https://user:pass@github.com/o/r.git', /credentials/],
    ['a token as user', 'https://ghp_abc@github.com/o/r.git', /credentials/],
    ['ext:: transport', 'ext::sh -c touch% /tmp/pwned', /printable ASCII/],
    ['ext:: without spaces', 'ext::/bin/false', /https/],
    ['fd:: transport', 'fd::3', /https/],
    ['ssh', 'ssh://git@github.com/o/r.git', /https/],
    ['scp-like ssh', 'git@github.com:o/r.git', /https/],
    ['git://', 'git://github.com/o/r.git', /https/],
    ['an option', '-u', /https/],
    ['an option with a value', '--upload-pack=touch /tmp/x', /printable/],
    ['a query', 'https://github.com/o/r.git?x=1', /query/],
    ['an empty query', 'https://github.com/o/r.git?', /query/],
    ['a fragment', 'https://github.com/o/r.git#main', /query or fragment/],
    ['.. segments', 'https://github.com/o/../r.git', /path/],
    ['encoded .. segments', 'https://github.com/o/%2e%2e/r.git', /path/],
    ['a . segment', 'https://github.com/o/./r.git', /path/],
    ['a backslash', 'https://github.com\\o\\r.git', /host|path/],
    ['percent escapes', 'https://github.com/o/r%20x.git', /path/],
    ['no path', 'https://github.com/', /path/],
    ['no path at all', 'https://github.com', /path/],
    ['a host that looks like an option', 'https://-oProxyCommand=x/o/r', /host/],
    ['an encoded host', 'https://git%68ub.com/o/r', /host/],
    ['spaces', 'https://github.com/o/r x', /printable/],
    ['a newline', 'https://github.com/o/r\n', /printable/],
    ['non-ASCII', 'https://github.com/o/ré', /printable/],
    ['too long', `https://github.com/${'a'.repeat(2100)}`, /2048/],
    ['file:// with a host', 'file://evil.example/srv/r.git', /host/],
    ['file:// with ..', 'file:///srv/../etc', /\.\./],
    ['file:// with encoded ..', 'file:///srv/%2e%2e/etc', /path/],
    ['a relative path', 'srv/git/r.git', /https/],
    ['a local path with ..', '/srv/../etc', /\.\./],
    ['a local path with odd characters', '/srv/git/r;rm', /path/],
  ])('refuses %s', (_why, url, message) => {
    expect(refused(url).message).toMatch(message);
  });

  it('quotes at most 200 characters of a refused URL', () => {
    expect(refused(`https://github.com/${'a'.repeat(3000)}`).message.length).toBeLessThan(400);
  });
});

describe('refs', () => {
  it.each(['main', 'feature/x', 'v1.2.3', 'paddock/issue-1-fix', 'a-b_c'])('takes branch or tag %s', (ref) => {
    expect(isGitRefName(ref)).toBe(true);
    expect(isCheckoutRef(ref)).toBe(true);
  });

  it.each(['', '-u', '--upload-pack=x', 'HEAD', '@', 'a..b', 'a@{1}', 'a//b', 'a/', 'a.', '.a', 'a/.b', 'x.lock', 'a b', 'a~1', 'a^', 'a:b', 'a?', 'a*', 'a[', 'a\\b', 'é'])(
    'refuses ref %j',
    (ref) => {
      expect(isGitRefName(ref)).toBe(false);
      expect(isCheckoutRef(ref)).toBe(false);
    },
  );

  it('takes full and abbreviated commit ids', () => {
    expect(isCheckoutRef('a'.repeat(40))).toBe(true);
    expect(isCheckoutRef('0123abc')).toBe(true);
    expect(isCheckoutRef('b'.repeat(64))).toBe(true);
  });
});

describe('parseIssueRef', () => {
  it('parses owner/repo#N', () => expect(parseIssueRef('octo-org/hello.js#42')).toEqual({ owner: 'octo-org', repo: 'hello.js', number: 42 }));
  it.each(['octo/hello', 'octo/hello#0', 'octo/..#1', 'octo/.#1', '-octo/r#1', 'octo/r#1x', 'a/b/c#1', 'octo/r#12345678901'])('refuses %s', (ref) => {
    expect(() => parseIssueRef(ref)).toThrow(PaddockError);
  });
});

describe('models and tool rules', () => {
  it('takes model names and refuses option-looking ones', () => {
    expect(MODEL_RE.test('claude-sonnet-4-5')).toBe(true);
    expect(MODEL_RE.test('us.anthropic.claude-3-7-sonnet-20250219-v1:0')).toBe(true);
    expect(MODEL_RE.test('-p')).toBe(false);
    expect(MODEL_RE.test('a b')).toBe(false);
  });
  it('takes tool rules and refuses ones that could close the list', () => {
    expect(TOOL_RULE_RE.test('Bash(git diff:*)')).toBe(true);
    expect(TOOL_RULE_RE.test('mcp__server__tool')).toBe(true);
    expect(TOOL_RULE_RE.test('Bash(a)(b)')).toBe(false);
    expect(TOOL_RULE_RE.test('Bash(\n)')).toBe(false);
    expect(TOOL_RULE_RE.test('--dangerously-skip-permissions')).toBe(false);
  });
});
