import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { allDrivers } from '../../sandbox/all-drivers.js';
import { DriverSet } from '../../sandbox/registry.js';
import { createLogger } from '../../util/log.js';
import { printJson } from '../output.js';
import { configFlags, withConfigOptions } from './config-flags.js';

export function doctorCommand(program: Command): void {
  withConfigOptions(
    program.command('doctor').description('check which sandbox drivers work on this host, and why not').option('--json'),
  ).action(async (opts) => {
    const config = loadConfig({ file: opts.config, flags: configFlags(opts) });
    const drivers = new DriverSet(allDrivers(config, createLogger('silent')), {
      minIsolation: config.sandbox.min_isolation,
    });
    const reports = await drivers.detect();
    await drivers.close();
    const best = reports
      .filter((r) => r.available)
      .sort((a, b) => b.capabilities.strength - a.capabilities.strength)[0];
    if (opts.json) {
      printJson({
        node: process.version,
        data_dir: config.data_dir,
        best: best?.name ?? null,
        min_isolation: drivers.floors(),
        drivers: reports,
      });
    } else {
      process.stdout.write(`node ${process.version}, data dir ${config.data_dir}\n`);
      for (const r of reports) {
        const facts = Object.entries(r.details ?? {}).map(([k, v]) => `${k}: ${v}`).join('; ');
        const mark = r.available ? 'ok ' : 'no ';
        process.stdout.write(`${mark} ${r.name.padEnd(8)} ${r.available ? '' : `${r.reason}  `}${facts ? `(${facts})` : ''}\n`);
      }
      process.stdout.write(best ? `driver auto → ${best.name}\n` : 'no sandbox driver is available\n');
      const floors = Object.entries(drivers.floors()).map(([mode, iso]) => `network ${mode}: ${iso}`);
      const source = config.sandbox.min_isolation === 'auto' ? 'strongest available now' : 'sandbox.min_isolation';
      process.stdout.write(`isolation floor for auto (${source}): ${floors.join(', ') || 'none'}\n`);
    }
    if (!best) process.exitCode = 1;
  });
}
