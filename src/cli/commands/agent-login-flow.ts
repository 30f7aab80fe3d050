import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type CredentialsFile, readCredentialsFile } from '../../agents/oauth/credentials-file.js';
import { PaddockError } from '../../errors.js';

/**
 * Claude Code 2.1.197's own login, run in this terminal: `claude auth login --claudeai` prints a
 * URL, reads the code pasted back on stdin and saves the tokens (with a refresh token) to
 * `$CLAUDE_CONFIG_DIR/.credentials.json`. It runs with a throw-away config dir, so the user's own
 * `~/.claude` is neither read nor changed; what it saved is returned and the dir removed.
 * (`claude setup-token` does not fit: it prints a one-year token without a refresh token and
 * saves nothing.)
 */
export async function runClaudeLogin(claude: string): Promise<CredentialsFile> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'paddock-login-'));
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, CLAUDE_CONFIG_DIR: dir };
    // Each of these would make the CLI log in elsewhere, or not at all.
    for (const k of ['CLAUDE_SECURESTORAGE_CONFIG_DIR', 'CLAUDE_CODE_OAUTH_TOKEN', 'CLAUDE_CODE_OAUTH_REFRESH_TOKEN', 'ANTHROPIC_API_KEY']) delete env[k];
    const { code, signal } = await run(claude, ['auth', 'login', '--claudeai'], env);
    if (code !== 0) {
      throw new PaddockError('agent_auth_unavailable', `\`${claude} auth login\` ended with ${signal ? `signal ${signal}` : `exit code ${code}`}; nothing was saved`);
    }
    const read = readCredentialsFile(path.join(dir, '.credentials.json'));
    if (!read?.data.claudeAiOauth?.accessToken) {
      throw new PaddockError(
        'agent_auth_unavailable',
        `\`${claude} auth login\` saved no Claude subscription login (a Console login is an API key: set agents.model_api.api_key instead)`,
      );
    }
    return read.data;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    // Ctrl-C reaches the CLI too (same terminal); this process waits for it to end so the dir is removed.
    const ignore = () => undefined;
    process.on('SIGINT', ignore);
    const child = spawn(cmd, args, { stdio: 'inherit', env });
    child.once('error', (err: NodeJS.ErrnoException) => {
      process.off('SIGINT', ignore);
      reject(
        new PaddockError(
          'validation_failed',
          err.code === 'ENOENT'
            ? `the Claude Code CLI (${cmd}) was not found: install it (npm install -g @anthropic-ai/claude-code@2.1.197), give --claude <path>, or copy a login with --from`
            : `cannot run ${cmd}: ${err.code ?? err.message}`,
        ),
      );
    });
    child.once('close', (code, signal) => {
      process.off('SIGINT', ignore);
      resolve({ code, signal });
    });
  });
}
