import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { createToken, parseScopes, quotasOf, SCOPES } from '../../auth/tokens.js';
import { PaddockError } from '../../errors.js';
import { CallbackSecret } from '../../jobs/callbacks/url.js';
import { openStore, type Store } from '../../store/store.js';
import { printJson, printTable } from '../output.js';
import { configFlags, withConfigOptions } from './config-flags.js';

/** Token commands work on the runner's store directly: they are for whoever administers the host. */
async function withStore<T>(opts: Record<string, unknown>, fn: (store: Store) => Promise<T>): Promise<T> {
  const config = loadConfig({ file: opts.config as string | undefined, flags: configFlags(opts) });
  const store = await openStore(config.store_url);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export function tokenCommand(program: Command): void {
  const token = program.command('token').description('create, list and revoke API tokens');

  withConfigOptions(
    token
      .command('create')
      .description('create a token and print it once')
      .requiredOption('--name <name>', 'what the token is for')
      .option('--scopes <list>', `comma-separated: ${SCOPES.join(', ')}`, 'jobs:read,jobs:write')
      .option('--max-queued <n>', 'jobs it may have queued at once (default: quotas.max_queued; 0 = no limit)')
      .option('--max-running <n>', 'jobs it may have running at once; more wait queued (default: quotas.max_running)')
      .option('--rate <n>', 'submits per second (default: quotas.submits_per_s)')
      .option('--max-streams <n>', 'event streams it may have open (default: quotas.max_streams)')
      .option(
        '--callback-secret <from>',
        'signs the status callbacks of its jobs: "-" reads it from stdin, "env:NAME" from that variable (never on the command line)',
      ),
  ).action(async (opts) => {
    const scopes = parseScopes(opts.scopes);
    const quotas = {
      max_queued: quotaFlag('--max-queued', opts.maxQueued),
      max_running: quotaFlag('--max-running', opts.maxRunning),
      submits_per_s: quotaFlag('--rate', opts.rate),
      max_streams: quotaFlag('--max-streams', opts.maxStreams),
    };
    const callbackSecret = opts.callbackSecret === undefined ? undefined : readCallbackSecret(opts.callbackSecret);
    const { token: secret, row } = await withStore(opts, (store) =>
      createToken(store, opts.name, scopes, quotas, { callbackSecret }),
    );
    process.stderr.write(`created token ${row.id} (${scopes.join(', ')}); it is shown only this once\n`);
    process.stdout.write(`${secret}\n`);
  });

  withConfigOptions(token.command('ls').description('list tokens (never their secrets)').option('--json')).action(
    async (opts) => {
      const rows = await withStore(opts, (store) => store.listTokens());
      const view = rows.map((r) => ({
        id: r.id,
        name: r.name,
        scopes: JSON.parse(r.scopes) as string[],
        created_at: r.created_at,
        revoked_at: r.revoked_at,
        quotas: quotasOf(r),
      }));
      if (opts.json) return printJson(view);
      // "-" = the runner's default (quotas.* in the config).
      const q = (n: number | null) => (n === null ? '-' : String(n));
      printTable([
        ['ID', 'NAME', 'SCOPES', 'MAX_QUEUED', 'MAX_RUNNING', 'RATE', 'MAX_STREAMS', 'CREATED', 'REVOKED'],
        ...view.map((t) => [
          t.id,
          t.name,
          t.scopes.join(','),
          q(t.quotas.max_queued),
          q(t.quotas.max_running),
          q(t.quotas.submits_per_s),
          q(t.quotas.max_streams),
          t.created_at,
          t.revoked_at ?? '-',
        ]),
      ]);
    },
  );

  withConfigOptions(token.command('revoke').description('revoke a token by id').argument('<id>')).action(
    async (id, opts) => {
      const revoked = await withStore(opts, (store) => store.revokeToken(id));
      if (!revoked) throw new PaddockError('not_found', `no live token with id ${id}`);
      process.stdout.write(`revoked ${id}\n`);
    },
  );
}

/** A quota flag: a whole number ≥ 0 (0 = no limit), or unset to use the runner's default. */
function quotaFlag(flag: string, value: string | undefined): number | null {
  if (value === undefined) return null;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new PaddockError('validation_failed', `${flag} takes a whole number ≥ 0 (0 = no limit), not "${value}"`);
  }
  return Number(value);
}

/** A secret in argv is visible to every user of the host (ps, /proc): it comes from stdin or the environment. */
function readCallbackSecret(from: string): string {
  let value: string | undefined;
  if (from === '-') value = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  else if (/^env:[A-Za-z_][A-Za-z0-9_]*$/.test(from)) value = process.env[from.slice(4)];
  else throw new PaddockError('validation_failed', '--callback-secret takes "-" (read stdin) or "env:NAME", not the secret itself');
  if (!value) throw new PaddockError('validation_failed', `--callback-secret ${from}: no secret there`);
  const parsed = CallbackSecret.safeParse(value);
  if (!parsed.success) throw new PaddockError('validation_failed', `--callback-secret: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}
