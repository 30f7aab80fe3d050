import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { startRuntime } from '../../runtime.js';
import { buildServer } from '../../server/app.js';
import { connectionBudget } from '../../server/fd-budget.js';
import { installLastResortHandlers } from '../../util/last-resort.js';
import { createLogger } from '../../util/log.js';
import { configFlags, withConfigOptions } from './config-flags.js';

export function serveCommand(program: Command): void {
  withConfigOptions(
    program
      .command('serve')
      .description('start the runner: HTTP API, scheduler and sandboxes')
      .option('--port <port>', 'port to listen on (PADDOCK_PORT)')
      .option('--host <host>', 'address to bind (PADDOCK_HOST); default 127.0.0.1')
      .option('--max-concurrent-jobs <n>', 'jobs run at once (PADDOCK_MAX_CONCURRENT_JOBS); default: CPU count'),
  ).action(async (opts) => {
    const config = loadConfig({ file: opts.config, flags: configFlags(opts) });
    // Job outputs and tokens live in the data dir: nothing we create is for other users.
    process.umask(0o077);
    const log = createLogger(config.log_level);
    installLastResortHandlers(log);
    const rt = await startRuntime(config, log);
    const app = await buildServer(rt);
    // Connections stop short of the fd limit, so a burst of clients cannot leave no fd for a sandbox.
    const budget = connectionBudget(config);
    app.server.maxConnections = budget.maxConnections;
    if (budget.fdLimit < 4096) log.warn({ ...budget }, 'low open-files limit: raise it (ulimit -n / LimitNOFILE=) for bursts');
    // A deep accept queue, so a burst of connects waits instead of being reset (the kernel caps it at somaxconn).
    const address = await app.listen({ host: config.host, port: config.port, backlog: config.http.backlog });
    if (rt.adminTokenFile) {
      process.stderr.write(`paddock: first start: admin token written to ${rt.adminTokenFile} (mode 0600)\n`);
    }
    const drivers = rt.drivers.list().filter((d) => d.available).map((d) => d.name);
    process.stderr.write(`paddock: listening on ${address} (drivers: ${drivers.join(', ') || 'none'}; data: ${config.data_dir})\n`);

    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down');
      const force = setTimeout(() => process.exit(1), config.shutdown_grace_ms + 30_000);
      force.unref();
      // Others see it draining while its jobs get their grace period (shutdown_grace_ms).
      await rt.hosts.drain();
      // End running jobs first: requests waiting on them (?wait=true) and event
      // streams then get their answer, and app.close() has nothing left to wait for.
      await rt.scheduler.stop(config.shutdown_grace_ms);
      await app.close();
      await rt.close();
      process.exit(0);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
  });
}
