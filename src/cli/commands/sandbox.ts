import { type Command, Option } from 'commander';
import type { PaddockClient, Sandbox, SandboxCreateInput } from '../../client/index.js';
import { PaddockError, toPaddockError } from '../../errors.js';
import { connect } from '../client.js';
import { printJson, printTable, reportError } from '../output.js';
import { collect, parsePairs } from './pairs.js';
import { clientOptions, parseDuration } from './run.js';
import { sandboxCpCommand } from './sandbox-cp.js';
import { sandboxExecCommand } from './sandbox-exec.js';
import { sandboxSnapshotCommands } from './sandbox-snapshot.js';

export function sandboxCommand(program: Command): void {
  const sandbox = program
    .command('sandbox')
    .description('create long-lived sandboxes, exec in them, copy files in and out, remove them');

  clientOptions(
    sandbox
      .command('create')
      .description('create a sandbox and print its id')
      .option('--image <image>', 'sandbox image')
      .option('--snapshot <id>', "start with this snapshot's files (and its image, unless --image)")
      .option('--driver <driver>', 'sandbox driver (auto picks the strongest available)')
      .option('--timeout <duration>', 'idle timeout: destroyed this long after its last use, e.g. 5m, 300s, 90000ms')
      .option('--memory <mb>', 'memory limit in MiB')
      .option('--disk <mb>', 'disk space for its files in MiB')
      .option('--label <k=v>', 'label (repeatable)', collect, [])
      .option('-e, --env <KEY=VALUE>', 'environment for every exec (repeatable)', collect, [])
      .addOption(new Option('--network <mode>', 'network mode').choices(['none', 'egress']))
      .option('--json', 'print the whole record as JSON'),
  ).action(async (opts) => {
    const limits: Record<string, number> = {};
    if (opts.memory) limits.memory_mb = wholeNumber('--memory', opts.memory);
    if (opts.disk) limits.disk_mb = wholeNumber('--disk', opts.disk);
    const spec: SandboxCreateInput = {
      ...(opts.image ? { image: opts.image } : {}),
      ...(opts.snapshot ? { snapshot: opts.snapshot } : {}),
      ...(opts.driver ? { driver: opts.driver } : {}),
      ...(opts.timeout ? { timeout_ms: parseDuration(opts.timeout) } : {}),
      ...(opts.network ? { network: opts.network } : {}),
      ...(Object.keys(limits).length ? { limits } : {}),
      labels: parsePairs('--label', opts.label),
      env: parsePairs('--env', opts.env),
    };
    const created = await connect(opts).sandboxes.create(spec);
    if (opts.json) printJson(created);
    else process.stdout.write(`${created.id}\n`);
  });

  clientOptions(
    sandbox
      .command('ls')
      .description('list sandboxes')
      .option('--label <k=v>', 'only sandboxes with this label (repeatable)', collect, [])
      .addOption(new Option('--state <state>', 'only sandboxes in this state').choices(['running', 'paused', 'destroyed']))
      .option('--json', 'print JSON'),
  ).action(async (opts) => {
    parsePairs('--label', opts.label); // checked here, so a typo is not a server round trip
    const items: Sandbox[] = [];
    for await (const s of connect(opts).sandboxes.list({ state: opts.state, label: opts.label })) items.push(s);
    if (opts.json) return printJson(items);
    printTable([
      ['ID', 'STATE', 'DRIVER', 'IMAGE', 'LABELS', 'CREATED', 'EXPIRES'],
      ...items.map((s) => [
        s.id,
        s.state === 'destroyed' && s.reason ? `destroyed (${s.reason})` : s.state,
        s.driver,
        s.image ?? '-',
        Object.entries(s.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '-',
        s.created_at,
        s.expires_at ?? '-',
      ]),
    ]);
  });

  sandboxExecCommand(sandbox);
  sandboxCpCommand(sandbox);
  sandboxSnapshotCommands(sandbox);

  clientOptions(sandbox.command('rm').description('destroy sandboxes').argument('<ids...>')).action(
    async (ids: string[], opts) => {
      process.exitCode = await removeAll(connect(opts), ids);
    },
  );
}

function wholeNumber(flag: string, text: string): number {
  if (!/^\d+$/.test(text)) throw new PaddockError('validation_failed', `${flag} takes a whole number, not "${text}"`);
  return Number(text);
}

/** Removes each sandbox; one that fails is reported and the rest are still removed. */
async function removeAll(client: PaddockClient, ids: string[]): Promise<number> {
  let exit = 0;
  for (const id of ids) {
    try {
      await client.sandboxes.delete(id);
      process.stdout.write(`${id}\n`);
    } catch (err) {
      exit = reportError(toPaddockError(err));
    }
  }
  return exit;
}
