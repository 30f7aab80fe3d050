import type { Command } from 'commander';
import { connect } from '../client.js';
import { printJson, printTable } from '../output.js';
import { jobSummary } from './job-summary.js';
import { clientOptions, exitCodeOf, parseDuration } from './run.js';
import { PaddockError } from '../../errors.js';

export function jobsCommand(program: Command): void {
  const jobs = program.command('jobs').description('list, inspect, follow and cancel jobs');

  clientOptions(
    jobs
      .command('ls')
      .description('list jobs, newest first')
      .option('--state <state>', 'only jobs in this state')
      .option('--kind <kind>', 'only jobs of this kind')
      .option('--limit <n>', 'how many', '20')
      .option('--json', 'print JSON'),
  ).action(async (opts) => {
    const page = await connect(opts).jobs.page({ limit: opts.limit, state: opts.state, kind: opts.kind });
    if (opts.json) return printJson(page);
    printTable([
      ['ID', 'STATE', 'KIND', 'EXIT', 'DRIVER', 'CREATED', 'WALL'],
      ...page.jobs.map((j) => [
        j.id,
        j.state,
        j.kind,
        !j.result || !('exit_code' in j.result) || j.result.exit_code == null ? '-' : String(j.result.exit_code),
        j.driver ?? '-',
        j.created_at,
        j.result && 'wall_ms' in j.result ? `${j.result.wall_ms}ms` : '-',
      ]),
    ]);
  });

  clientOptions(
    jobs
      .command('show')
      .description('show one job: state, times, exit, an agent job’s cost, pull request, changed files and artifacts')
      .argument('<id>')
      .option('--json', 'print the job as JSON'),
  ).action(async (id, opts) => {
    const client = connect(opts);
    const job = await client.jobs.get(id);
    if (opts.json) return printJson(job);
    process.stdout.write(await jobSummary(client, job));
  });

  clientOptions(
    jobs
      .command('logs')
      .description('print a job’s output; -f follows it until the job ends')
      .argument('<id>')
      .option('-f, --follow', 'keep streaming until the job ends'),
  ).action(async (id, opts) => {
    const client = connect(opts);
    for await (const e of client.jobs.events(id, { follow: Boolean(opts.follow) })) {
      if (e.event === 'stdout') process.stdout.write(e.data.data);
      else if (e.event === 'stderr') process.stderr.write(e.data.data);
    }
    if (opts.follow) process.exitCode = exitCodeOf(await client.jobs.get(id));
  });

  clientOptions(
    jobs
      .command('prune')
      .description('delete finished jobs and their output (admin); without options, by the configured retention')
      .option('--older-than <duration>', 'jobs that ended longer ago than this (e.g. 7d, 12h, 30m, 90s)')
      .option('--keep <n>', 'keep only the newest n finished jobs'),
  ).action(async (opts) => {
    const body: Record<string, number> = {};
    if (opts.olderThan !== undefined) body.older_than_ms = parseAge(opts.olderThan);
    if (opts.keep !== undefined) {
      if (!/^\d+$/.test(opts.keep)) throw new PaddockError('validation_failed', `--keep wants a number, not "${opts.keep}"`);
      body.keep = Number(opts.keep);
    }
    const r = await connect(opts).jobs.prune(body);
    process.stdout.write(`deleted ${r.deleted_jobs} jobs (${r.deleted_events} events)\n`);
  });

  clientOptions(jobs.command('cancel').description('cancel a queued or running job').argument('<id>')).action(
    async (id, opts) => {
      const job = await connect(opts).jobs.cancel(id);
      process.stdout.write(`${job.id} ${job.state}\n`);
    },
  );
}

/** A duration as `paddock run` reads it, plus days ("7d"). */
function parseAge(text: string): number {
  const days = /^(\d+(?:\.\d+)?)d$/.exec(text.trim());
  return days ? Math.round(Number(days[1]) * 86_400_000) : parseDuration(text);
}
