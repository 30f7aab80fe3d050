import type { Command } from 'commander';
import { connect } from '../client.js';
import { printJson, printTable } from '../output.js';
import { clientOptions } from './run.js';

export function actionsCommand(program: Command): void {
  const actions = program.command('actions').description('ephemeral GitHub Actions runners: one fresh sandbox per workflow job');

  clientOptions(
    actions
      .command('status')
      .description('per pool: runners running and queued, jobs held back at max, and jobs no pool could run (needs an admin token)')
      .option('--json', 'print JSON'),
  ).action(async (opts) => {
    const status = await connect(opts).actions();
    if (opts.json) return printJson(status);
    printTable([
      ['POOL', 'LABELS', 'RUNNING', 'QUEUED', 'WAITING', 'RUNNERS'],
      ...status.pools.map((p) => [
        p.name,
        p.labels.join(','),
        `${p.running}/${p.max}`,
        String(p.queued),
        String(p.waiting),
        p.runners.map((r) => `${r.repo}#${r.github_job}(${r.state})`).join(' ') || '-',
      ]),
    ]);
    if (status.unmatched.length) {
      process.stdout.write('\nnot taken (no pool fits):\n');
      for (const u of status.unmatched.slice(0, 10)) process.stdout.write(`  ${u.repo} job ${u.job} [${u.labels.join(', ')}]: ${u.reason}\n`);
    }
  });
}
