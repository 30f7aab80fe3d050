import path from 'node:path';
import type { Command } from 'commander';
import { type CredentialsFile, credentialsPath, readCredentialsFile, writeCredentialsFile } from '../../agents/oauth/credentials-file.js';
import { isExpired, type OAuthStatus, oauthStatus } from '../../agents/oauth/oauth-status.js';
import { loadConfig } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { PaddockError } from '../../errors.js';
import { connect } from '../client.js';
import { printJson } from '../output.js';
import { runClaudeLogin } from './agent-login-flow.js';
import { clientOptions } from './run.js';

const LOGIN_HELP = `
The login is kept in the runner's data dir (<data dir>/agent/.credentials.json, mode 0600, or
agents.oauth.credentials_file); a running runner picks up a new one without a restart. Run this as
the user the runner runs as, with its --data-dir.

Without --from, Claude Code's own login runs here: \`claude auth login --claudeai\` prints a URL
to open in any browser and asks for the code shown there. It needs the claude CLI on this host
(or --claude) and internet access; Paddock's tests drive it with a stand-in CLI only, not against
Anthropic.`;

/** `paddock agent login` and `paddock agent status`, subcommands of `paddock agent`. */
export function addAgentLoginCommands(agent: Command): void {
  configOptions(
    agent
      .command('login')
      .description("put a Claude subscription login (Claude Code's .credentials.json) in place for agent jobs")
      .option('--from <path>', 'copy this credentials file, e.g. ~/.claude/.credentials.json')
      .option('--claude <path>', "the Claude Code CLI that runs the login flow (without --from)", 'claude'),
  )
    .addHelpText('after', LOGIN_HELP)
    .action(async function (this: Command) {
      const opts = this.optsWithGlobals();
      const config = configOf(opts);
      const target = credentialsPath(config);
      const data = opts.from ? fromFile(path.resolve(opts.from)) : await runClaudeLogin(opts.claude);
      const login = checkUsable(data, opts.from ?? 'the login');
      // Only the Claude login: other logins the CLI keeps in its file (MCP servers) are no business of the runner.
      await writeCredentialsFile(target, { claudeAiOauth: login });
      const s = oauthStatus(login, Date.now(), !!login.refreshToken);
      process.stdout.write(`OAuth login saved to ${target}: ${describe(s)}\n`);
      if (config.agents.model_api.api_key !== '') {
        process.stderr.write('paddock: note: an API key is configured (agents.model_api.api_key / ANTHROPIC_API_KEY); the runner uses it instead\n');
      }
    });

  configOptions(clientOptions(agent.command('status').description("show the runner's OAuth login: configured, expiry, refreshable (never a token)")))
    .option('--json', 'print the status as JSON')
    .addHelpText('after', '\nAsks the runner (GET /v1/agent/oauth); when it cannot be reached, reads the credentials file instead.\nExits 1 when there is no usable login.')
    .action(async function (this: Command) {
      const opts = this.optsWithGlobals();
      let status: OAuthStatus;
      let source: string;
      try {
        const client = connect(opts);
        status = await client.http.json<OAuthStatus>('GET', '/v1/agent/oauth');
        source = `runner ${client.url}`;
      } catch (err) {
        if (!(err instanceof PaddockError && err.code === 'unreachable')) throw err;
        const file = credentialsPath(configOf(opts));
        status = statusOfFile(file);
        source = `file ${file} (runner not reachable)`;
      }
      if (opts.json) printJson(status);
      else process.stdout.write(`${source}\n${describe(status)}\n`);
      process.exitCode = status.configured && !status.expired ? 0 : 1;
    });
}

function configOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'config file (PADDOCK_CONFIG); default ./paddock.toml if present')
    .option('--data-dir <dir>', 'data directory (PADDOCK_DATA_DIR); default /var/lib/paddock as root, else ~/.paddock');
}

function configOf(opts: Record<string, unknown>): Config {
  return loadConfig({ file: opts.config as string | undefined, flags: { data_dir: opts.dataDir } });
}

function fromFile(file: string): CredentialsFile {
  const read = readCredentialsFile(file);
  if (!read) throw new PaddockError('not_found', `no credentials file at ${file}`);
  return read.data;
}

/** The Claude login in a file, refused when it could never be used. */
function checkUsable(data: CredentialsFile, where: string) {
  const login = data.claudeAiOauth;
  if (!login || (login.accessToken === '' && !login.refreshToken)) {
    throw new PaddockError('validation_failed', `${where} holds no Claude login (claudeAiOauth with an access token)`);
  }
  if (isExpired(login, Date.now()) && !login.refreshToken) {
    throw new PaddockError('validation_failed', `the login in ${where} expired and has no refresh token: log in again`);
  }
  return login;
}

function statusOfFile(file: string): OAuthStatus {
  try {
    const c = readCredentialsFile(file)?.data.claudeAiOauth;
    return oauthStatus(c, Date.now(), !!c?.refreshToken);
  } catch (err) {
    return { configured: false, expired: false, expires_at: null, hours_remaining: null, refreshable: false, error: (err as Error).message };
  }
}

function describe(s: OAuthStatus): string {
  if (!s.configured) return `not configured${s.error ? ` (${s.error})` : ''}: run \`paddock agent login\``;
  const parts = [
    s.subscription_type ? `${s.subscription_type} subscription` : 'subscription login',
    s.expires_at === null ? 'no expiry' : s.expired ? `expired at ${s.expires_at}` : `expires ${s.expires_at} (in ${s.hours_remaining} h)`,
    s.refreshable ? 'refreshable' : 'not refreshable',
  ];
  return `${parts.join('; ')}${s.error ? `; ${s.error}` : ''}`;
}
