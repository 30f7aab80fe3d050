import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { createToken, parseScopes, SCOPES } from '../../auth/tokens.js';
import { PaddockError } from '../../errors.js';
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
      .option('--scopes <list>', `comma-separated: ${SCOPES.join(', ')}`, 'jobs:read,jobs:write'),
  ).action(async (opts) => {
    const scopes = parseScopes(opts.scopes);
    const { token: secret, row } = await withStore(opts, (store) => createToken(store, opts.name, scopes));
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
      }));
      if (opts.json) return printJson(view);
      printTable([
        ['ID', 'NAME', 'SCOPES', 'CREATED', 'REVOKED'],
        ...view.map((t) => [t.id, t.name, t.scopes.join(','), t.created_at, t.revoked_at ?? '-']),
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
