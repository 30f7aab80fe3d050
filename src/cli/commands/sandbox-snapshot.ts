import type { Command } from 'commander';
import { isErrorCode, PaddockError, toPaddockError } from '../../errors.js';
import { connect } from '../client.js';
import { printJson, printTable, reportError } from '../output.js';
import { collect, parsePairs } from './pairs.js';
import { clientOptions } from './run.js';

/** `sandbox snapshot`, `fork`, `snapshots` and `snapshot-rm`: filesystem snapshots (src/sandboxes/snapshots.ts). */
export function sandboxSnapshotCommands(sandbox: Command): void {
  clientOptions(
    sandbox
      .command('snapshot')
      .description("archive a running sandbox's files (/work, /tmp) and print the snapshot id; `create --snapshot` starts from it")
      .argument('<id>', 'sandbox id')
      .option('--label <k=v>', 'label (repeatable)', collect, [])
      .option('--json', 'print the whole record as JSON'),
  ).action(async (id: string, opts) => {
    const snap = await connect(opts).sandboxes.snapshot(id, parsePairs('--label', opts.label));
    if (opts.json) printJson(snap);
    else process.stdout.write(`${snap.id}\n`);
  });

  clientOptions(
    sandbox
      .command('fork')
      .description('new sandboxes with this one’s spec and files as they are now (not its memory); prints their ids')
      .argument('<id>', 'sandbox id')
      .option('--count <n>', 'how many', '1')
      .option('--json', 'print JSON'),
  ).action(async (id: string, opts) => {
    const out = await connect(opts).sandboxes.fork(id, Number(opts.count));
    if (opts.json) return printJson(out);
    for (const s of out.sandboxes) process.stdout.write(`${s.id}\n`);
    for (const e of out.errors) process.exitCode = reportError(new PaddockError(isErrorCode(e.code) ? e.code : 'internal', e.message));
  });

  clientOptions(sandbox.command('snapshots').description('list snapshots, newest first').option('--json', 'print JSON')).action(
    async (opts) => {
      const client = connect(opts);
      const items = [];
      let cursor: string | undefined;
      do {
        const page = await client.sandboxes.snapshots({ limit: 500, ...(cursor ? { cursor } : {}) });
        items.push(...page.items);
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      if (opts.json) return printJson(items);
      printTable([
        ['ID', 'SANDBOX', 'DRIVER', 'IMAGE', 'SIZE', 'CREATED'],
        ...items.map((s) => [s.id, s.sandbox_id, s.driver, s.image ?? '-', String(s.size_bytes), s.created_at]),
      ]);
    },
  );

  clientOptions(sandbox.command('snapshot-rm').description('delete snapshots').argument('<ids...>')).action(async (ids: string[], opts) => {
    const client = connect(opts);
    for (const id of ids) {
      try {
        await client.sandboxes.deleteSnapshot(id);
        process.stdout.write(`${id}\n`);
      } catch (err) {
        process.exitCode = reportError(toPaddockError(err));
      }
    }
  });
}
