import type { Command } from 'commander';

/** Options every command that reads the config accepts. */
export function withConfigOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'config file (PADDOCK_CONFIG); default ./paddock.toml if present')
    .option('--data-dir <dir>', 'data directory (PADDOCK_DATA_DIR); default /var/lib/paddock as root, else ~/.paddock')
    .option('--store <url>', 'job store URL (PADDOCK_STORE_URL); default sqlite:<data dir>/paddock.db')
    .option('--images-dir <dir>', 'built images (PADDOCK_IMAGES_DIR); default <data dir>/images')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (PADDOCK_LOG_LEVEL)');
}

const num = (v: unknown) => (v === undefined ? undefined : Number(v));

/** Maps commander's camelCase options onto config keys; zod reports bad values by key. */
export function configFlags(opts: Record<string, unknown>): Record<string, unknown> {
  return {
    port: num(opts.port),
    host: opts.host,
    data_dir: opts.dataDir,
    store_url: opts.store,
    images_dir: opts.imagesDir,
    log_level: opts.logLevel,
    max_concurrent_jobs: num(opts.maxConcurrentJobs),
  };
}
