import type { Command } from 'commander';
import type { JobSpecInput } from '../../client/index.js';
import type { JudgeResult } from '../../judge/result.js';
import { isTerminal } from '../../jobs/states.js';
import { connect } from '../client.js';
import { printJson } from '../output.js';
import { readJudgeDir, writeResults } from './judge-dir.js';
import { judgeLines } from './judge-format.js';
import { clientOptions, exitCodeOf } from './run.js';

/** Exit status of a submission that was judged and not accepted (0 is accepted; errors keep their usual codes). */
export const NOT_ACCEPTED_EXIT = 1;

/**
 * `paddock judge ./dir`: the runner-image contract from the CLI. `main.<ext>` and `tests.json` go
 * to the runner as a judge job; its result is written to `results.json` in the directory and
 * shown as a verdict table (or JSON). Exit 0 when accepted, 1 when not.
 */
export function judgeCommand(program: Command): void {
  clientOptions(
    program
      .command('judge')
      .description('judge main.<ext> in a directory against its tests.json ([{input, expected}]); write results.json and print the verdicts')
      .argument('<dir>', 'the directory holding main.<ext> and tests.json')
      .option('--language <id>', 'judge language (python, javascript, c, cpp, java, bash); default: from main.<ext>')
      .option('--compare <mode>', 'how output is compared: exact, trim, tokens or float:EPS', 'trim')
      .option('--driver <driver>', 'sandbox driver', 'auto')
      .option('--json', 'print the result as JSON instead of the table'),
  ).action(async (dir: string, opts) => {
    const found = readJudgeDir(dir, { language: opts.language });
    const client = connect(opts);
    const spec: JobSpecInput = {
      kind: 'judge',
      language: found.language.id,
      files: found.files,
      tests: found.tests as Extract<JobSpecInput, { kind: 'judge' }>['tests'],
      compare: opts.compare,
      driver: opts.driver,
    };
    let job = await client.jobs.submit(spec);
    // Ctrl-C cancels the job rather than leaving it running unattended.
    process.once('SIGINT', () => {
      void client.jobs.cancel(job.id).catch(() => undefined);
    });
    if (!isTerminal(job.state)) {
      for await (const e of client.jobs.events(job.id, { follow: true })) void e;
      job = await client.jobs.get(job.id);
    }
    const result = job.result && 'verdict' in job.result ? (job.result as JudgeResult) : undefined;
    if (result) {
      const file = writeResults(dir, result);
      if (opts.json) printJson(result);
      else for (const line of judgeLines(result)) process.stdout.write(`${line}\n`);
      process.stderr.write(`paddock: wrote ${file}\n`);
    }
    if (job.state === 'succeeded' && result) process.exitCode = result.verdict === 'accepted' ? 0 : NOT_ACCEPTED_EXIT;
    else process.exitCode = exitCodeOf({ ...job, state: job.state === 'succeeded' ? 'failed' : job.state });
  });
}
