import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli } from './helpers/cli.js';
import { startTestRunner, type TestRunner } from './helpers/runner.js';

const ACCESS = 'sk-ant-oat01-CLI-ACCESS-0123456789abcdef';
const REFRESH = 'sk-ant-ort01-CLI-REFRESH-0123456789abcdef';
const H = 3600_000;
/** Nothing listens here: the CLI finds the runner unreachable. */
const NOWHERE = 'http://127.0.0.1:9';

let runner: TestRunner;
let dir: string;

const creds = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    claudeAiOauth: { accessToken: ACCESS, refreshToken: REFRESH, expiresAt: Date.now() + 6 * H + 60_000, scopes: ['user:inference', 'user:profile'], subscriptionType: 'max', ...extra },
    mcpOAuth: { 'some-server': { accessToken: 'mcp-token-not-for-the-runner' } },
  });

function noTokens(r: CliResult): void {
  const all = r.stdout.toString() + r.stderr;
  for (const t of [ACCESS, REFRESH]) expect(all).not.toContain(t);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'paddock-login-cli-'));
  runner = await startTestRunner({ agents: { model_api: { api_key: '' } } });
});

afterAll(async () => {
  await runner?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('paddock agent login / status', () => {
  it('copies a credentials file into the data dir (0600, the Claude login only), which the running runner reports at once', async () => {
    const from = path.join(dir, 'claude-credentials.json');
    writeFileSync(from, creds(), { mode: 0o600 });
    const login = await runCli(['agent', 'login', '--from', from, '--data-dir', runner.dataDir], runner);
    expect(login.stderr).toBe('');
    expect(login.code).toBe(0);
    const target = path.join(runner.dataDir, 'agent', '.credentials.json');
    expect(login.stdout.toString()).toContain(`OAuth login saved to ${target}: max subscription; expires `);
    noTokens(login);
    expect(statSync(target).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(target)).mode & 0o777).toBe(0o700);
    const saved = JSON.parse(readFileSync(target, 'utf8'));
    expect(Object.keys(saved)).toEqual(['claudeAiOauth']);
    expect(saved.claudeAiOauth).toMatchObject({ accessToken: ACCESS, refreshToken: REFRESH });

    const status = await runCli(['agent', 'status'], runner);
    expect(status.code).toBe(0);
    expect(status.stdout.toString()).toMatch(new RegExp(`^runner ${runner.url}\nmax subscription; expires \\S+ \\(in 6 h\\); refreshable\n$`));
    noTokens(status);
    const json = await runCli(['agent', 'status', '--json'], runner);
    expect(JSON.parse(json.stdout.toString())).toEqual((await runner.api('GET', '/v1/agent/oauth')).body);
  });

  it('reads the file when the runner cannot be reached, and exits 1 without a usable login', async () => {
    const data = path.join(dir, 'offline');
    const from = path.join(dir, 'expiring.json');
    writeFileSync(from, creds({ expiresAt: Date.now() + 30 * 60_000 }));
    expect((await runCli(['agent', 'login', '--from', from, '--data-dir', data], runner)).code).toBe(0);
    const ok = await runCli(['agent', 'status', '--data-dir', data, '--url', NOWHERE], runner);
    expect(ok.code).toBe(0);
    expect(ok.stdout.toString()).toContain(`file ${path.join(data, 'agent', '.credentials.json')} (runner not reachable)`);
    expect(ok.stdout.toString()).toMatch(/\(in 0\.[45] h\); refreshable/);

    const none = await runCli(['agent', 'status', '--json', '--data-dir', path.join(dir, 'empty'), '--url', NOWHERE], runner);
    expect(none.code).toBe(1);
    expect(JSON.parse(none.stdout.toString())).toMatchObject({ configured: false });
  });

  it('refuses a file that is not a usable login, quoting none of it', async () => {
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, `{"claudeAiOauth":{"accessToken":"${ACCESS}","refreshToken":`);
    const r = await runCli(['agent', 'login', '--from', bad, '--data-dir', path.join(dir, 'bad-data')], runner);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('paddock: validation_failed: credentials file');
    noTokens(r);
    writeFileSync(bad, creds({ refreshToken: null, expiresAt: Date.now() - 1000 }));
    const expired = await runCli(['agent', 'login', '--from', bad, '--data-dir', path.join(dir, 'bad-data')], runner);
    expect(expired.code).toBe(2);
    expect(expired.stderr).toContain('expired and has no refresh token');
    expect(existsSync(path.join(dir, 'bad-data', 'agent', '.credentials.json'))).toBe(false);
  });

  it("runs the CLI's own login (`claude auth login --claudeai`) with a throw-away config dir and keeps what it saved", async () => {
    // A stand-in for Claude Code 2.1.197's `auth login`: it saves to $CLAUDE_CONFIG_DIR/.credentials.json.
    const claude = path.join(dir, 'claude');
    writeFileSync(
      claude,
      `#!/bin/sh
[ "$*" = "auth login --claudeai" ] || { echo "unexpected args: $*" >&2; exit 9; }
echo "config dir: $CLAUDE_CONFIG_DIR"
cat > "$CLAUDE_CONFIG_DIR/.credentials.json" <<'EOF'
${creds()}
EOF
echo "Login successful."
`,
    );
    chmodSync(claude, 0o755);
    const data = path.join(dir, 'flow');
    const r = await runCli(['agent', 'login', '--claude', claude, '--data-dir', data], runner);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = r.stdout.toString();
    expect(out).toContain('Login successful.');
    const configDir = /config dir: (\S+)/.exec(out)![1]!;
    expect(configDir).not.toBe(path.join(os.homedir(), '.claude'));
    expect(existsSync(configDir)).toBe(false);
    expect(JSON.parse(readFileSync(path.join(data, 'agent', '.credentials.json'), 'utf8')).claudeAiOauth.accessToken).toBe(ACCESS);

    // A login the CLI gave up on saves nothing.
    writeFileSync(claude, '#!/bin/sh\necho "Login failed: cancelled" >&2\nexit 1\n');
    const failed = await runCli(['agent', 'login', '--claude', claude, '--data-dir', path.join(dir, 'flow-failed')], runner);
    expect(failed.code).toBe(3);
    expect(failed.stderr).toContain('agent_auth_unavailable: `' + claude + ' auth login` ended with exit code 1; nothing was saved');
  });

  it('leaves `paddock agent` itself as it was: its options still run an agent job', async () => {
    const r = await runCli(['agent', '--prompt', 'hi', '--detach', '--url', NOWHERE], runner);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('paddock: unreachable: cannot reach http://127.0.0.1:9');
  });
});
