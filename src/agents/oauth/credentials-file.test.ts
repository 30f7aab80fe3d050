import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { credentialsPath, parseCredentials, readCredentialsFile, writeCredentialsFile } from './credentials-file.js';

const ACCESS = 'sk-ant-oat01-FILE-TEST-ACCESS-0123456789';
const REFRESH = 'sk-ant-ort01-FILE-TEST-REFRESH-0123456789';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'paddock-cred-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('credentials file', () => {
  it('round-trips Claude Code\'s format, keeping keys it does not know, 0600 in a new 0700 dir', async () => {
    const file = path.join(dir, 'agent', '.credentials.json');
    const data = {
      claudeAiOauth: { accessToken: ACCESS, refreshToken: REFRESH, expiresAt: 1_800_000_000_000, scopes: ['user:inference', 'user:profile'], subscriptionType: 'max', rateLimitTier: 'default_claude_max_5x' },
      mcpOAuth: { server: { accessToken: 'other' } },
    };
    await writeCredentialsFile(file, data);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    const read = readCredentialsFile(file)!;
    expect(read.data).toEqual(data);
    expect(read.stat.size).toBeGreaterThan(0);
    // No temp file is left beside it.
    expect(readdirSync(path.dirname(file))).toEqual(['.credentials.json']);
  });

  it('replaces a file whole (rename), so a reader sees the old or the new one', async () => {
    const file = path.join(dir, '.credentials.json');
    await writeCredentialsFile(file, { claudeAiOauth: { accessToken: 'a'.repeat(20) } });
    const before = statSync(file).ino;
    await writeCredentialsFile(file, { claudeAiOauth: { accessToken: 'b'.repeat(20) } });
    expect(statSync(file).ino).not.toBe(before);
    expect(readCredentialsFile(file)!.data.claudeAiOauth!.accessToken).toBe('b'.repeat(20));
  });

  it('is null when there is no file', () => {
    expect(readCredentialsFile(path.join(dir, 'missing.json'))).toBeNull();
  });

  it.each([
    ['not JSON', `{"claudeAiOauth": {"accessToken": "${ACCESS}"`],
    ['a token of the wrong type', JSON.stringify({ claudeAiOauth: { accessToken: 42, refreshToken: REFRESH } })],
    ['a token with a newline (header injection)', JSON.stringify({ claudeAiOauth: { accessToken: `${ACCESS}\r\nx-evil: 1`, refreshToken: REFRESH } })],
    ['expiresAt as a string', JSON.stringify({ claudeAiOauth: { accessToken: ACCESS, refreshToken: REFRESH, expiresAt: 'tomorrow' } })],
    ['an array', JSON.stringify([ACCESS, REFRESH])],
  ])('refuses %s with a clear error that quotes none of it', (_what, text) => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, text);
    let err: any;
    try {
      readCredentialsFile(file);
    } catch (e) {
      err = e;
    }
    expect(err?.code).toBe('validation_failed');
    expect(err.message).toContain(file);
    expect(err.message).not.toContain(ACCESS);
    expect(err.message).not.toContain(REFRESH);
    expect(err.message).not.toContain('sk-ant');
  });

  it('refuses a file past 64 KiB without reading it as JSON', () => {
    const file = path.join(dir, 'big.json');
    writeFileSync(file, JSON.stringify({ claudeAiOauth: { accessToken: ACCESS }, pad: 'x'.repeat(70_000) }));
    expect(() => readCredentialsFile(file)).toThrow(/larger than/);
  });

  it('accepts what the CLI leaves after a refused refresh (blank tokens, expiresAt 0) and tokens without expiry', () => {
    expect(parseCredentials(JSON.stringify({ claudeAiOauth: { accessToken: '', refreshToken: '', expiresAt: 0 } }), 'x').claudeAiOauth).toMatchObject({ accessToken: '' });
    expect(parseCredentials(JSON.stringify({ claudeAiOauth: { accessToken: ACCESS, refreshToken: null, expiresAt: null, scopes: ['user:inference'] } }), 'x').claudeAiOauth!.expiresAt).toBeNull();
  });

  it('lives at agents.oauth.credentials_file, else <data_dir>/agent/.credentials.json', () => {
    const agents = { oauth: { credentials_file: '' } } as any;
    expect(credentialsPath({ data_dir: '/var/lib/paddock', agents })).toBe('/var/lib/paddock/agent/.credentials.json');
    expect(credentialsPath({ data_dir: '/x', agents: { oauth: { credentials_file: '/etc/paddock/creds.json' } } as any })).toBe('/etc/paddock/creds.json');
  });

  it('writes nothing readable by others even when the old file was', async () => {
    const file = path.join(dir, '.credentials.json');
    writeFileSync(file, '{}', { mode: 0o644 });
    await writeCredentialsFile(file, { claudeAiOauth: { accessToken: ACCESS } });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toContain(ACCESS);
  });
});
