import type { Command } from 'commander';
import { loadConfig, redactConfig } from '../../config/load.js';
import { printJson } from '../output.js';
import { configFlags, withConfigOptions } from './config-flags.js';

export function configCommand(program: Command): void {
  const config = program.command('config').description('inspect the configuration');
  withConfigOptions(config.command('print').description('print the effective config (secrets redacted)')).action(
    async (opts) => {
      printJson(redactConfig(loadConfig({ file: opts.config, flags: configFlags(opts) })));
    },
  );
}
