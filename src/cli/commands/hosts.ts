import type { Command } from 'commander';
import { connect } from '../client.js';
import { printJson, printTable } from '../output.js';
import { clientOptions } from './run.js';

export function hostsCommand(program: Command): void {
  const hosts = program.command('hosts').description('the hosts of a fleet: every runner on this store');

  clientOptions(
    hosts
      .command('ls')
      .description('list the hosts sharing the runner’s store, with their health (needs an admin token)')
      .option('--json', 'print JSON'),
  ).action(async (opts) => {
    const { hosts: rows, self } = await connect(opts).hosts();
    if (opts.json) return printJson({ hosts: rows, self });
    printTable([
      ['HOST', 'HEALTH', 'RUNNING', 'ADDRESS', 'DRIVERS', 'LABELS', 'VERSION', 'HEARTBEAT'],
      ...rows.map((h) => [
        h.id === self ? `${h.id} *` : h.id,
        h.health,
        `${h.running}/${h.capacity}`,
        h.address ?? '-',
        h.drivers.filter((d) => d.available).map((d) => d.name).join(',') || '-',
        Object.entries(h.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-',
        h.version,
        `${(h.heartbeat_age_ms / 1000).toFixed(1)}s ago`,
      ]),
    ]);
  });
}
