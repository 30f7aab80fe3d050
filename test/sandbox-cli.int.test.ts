import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { promisify } from 'node:util';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PaddockClient } from '../src/client/index.js';
import { CLI, cliEnv, runCli } from './helpers/cli.js';
import { closeRunner, dockerMissing, removeRunnerContainers } from './helpers/docker.js';
import { startTestRunner, type TestRunner } from './helpers/runner.js';
import { removeRunnerState } from './helpers/sandbox.js';

// `paddock sandbox …` and the typed client (src/client/) against a real runner whose
// sandboxes are Docker (runc) containers with the agent inside.
const UIDS = { uid_range_start: 250_000, uid_range_size: 200 };
const missing = await dockerMissing();
const skip = !!missing && process.env.CI !== 'true';
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe.skipIf(skip)('paddock sandbox and the client against a runner', () => {
  let r: TestRunner;
  let client: PaddockClient;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'paddock-cli-'));
  const cli = (args: string[], input?: Buffer | string) => runCli(args, { url: r.url, token: r.token, input, timeoutMs: 60_000 });
  const create = async (...args: string[]) => {
    const res = await cli(['sandbox', 'create', '--driver', 'docker', ...args]);
    expect(res.code, res.stderr).toBe(0);
    return res.stdout.toString().trim();
  };

  beforeAll(async () => {
    if (missing) throw new Error(`sandbox CLI tests cannot run: ${missing}`);
    r = await startTestRunner({ drivers: ['docker'], docker: UIDS, pool: { size: 0 } });
    client = new PaddockClient({ url: r.url, token: r.token });
  }, 60_000);
  afterAll(async () => {
    if (!r) return;
    try {
      await closeRunner(r, 60_000);
    } finally {
      await removeRunnerContainers(r.dataDir);
      removeRunnerState(r.dataDir);
    }
  }, 90_000);

  it('create prints the id (--json the record); ls finds sandboxes by label', async () => {
    const id = await create('--label', 'suite=cli', '--env', 'GREETING=hi');
    expect(id).toMatch(/^sbx_/);
    const made = await cli(['sandbox', 'create', '--driver', 'docker', '--label', 'suite=cli', '--label', 'n=2', '--timeout', '10m', '--json']);
    const record = JSON.parse(made.stdout.toString());
    expect(record).toMatchObject({ state: 'running', driver: 'docker', labels: { suite: 'cli', n: '2' } });
    expect(Date.parse(record.expires_at) - Date.parse(record.last_used_at)).toBe(600_000);

    const all = JSON.parse((await cli(['sandbox', 'ls', '--label', 'suite=cli', '--json'])).stdout.toString());
    expect(all.map((s: { id: string }) => s.id).sort()).toEqual([id, record.id].sort());
    const one = JSON.parse((await cli(['sandbox', 'ls', '--label', 'n=2', '--state', 'running', '--json'])).stdout.toString());
    expect(one.map((s: { id: string }) => s.id)).toEqual([record.id]);
    const table = (await cli(['sandbox', 'ls'])).stdout.toString();
    expect(table.split('\n')[0]).toMatch(/^ID\s+STATE\s+DRIVER/);
    expect(table).toContain(id);
    expect((await cli(['sandbox', 'rm', id, record.id])).stdout.toString()).toBe(`${id}\n${record.id}\n`);
  });

  it('exec streams stdout and stderr apart and exits with the command’s code; env and cwd', async () => {
    const id = await create('--env', 'GREETING=hi');
    const res = await cli(['sandbox', 'exec', id, '--env', 'X=1', '--cwd', '/tmp', '--', 'sh', '-c', 'echo $GREETING $X; pwd; echo oops >&2; exit 7']);
    expect(res.stdout.toString()).toBe('hi 1\n/tmp\n');
    expect(res.stderr).toBe('oops\n');
    expect(res.code).toBe(7);
    // State outlives an exec.
    expect((await cli(['sandbox', 'exec', id, '--', 'sh', '-c', 'echo kept > /work/f'])).code).toBe(0);
    expect((await cli(['sandbox', 'exec', id, '--', 'cat', '/work/f'])).stdout.toString()).toBe('kept\n');
  });

  it('a command killed by a signal exits 128+N', async () => {
    const id = await create();
    expect((await cli(['sandbox', 'exec', id, '--', 'sh', '-c', 'kill -TERM $$'])).code).toBe(143);
    expect((await cli(['sandbox', 'exec', id, '--', 'sh', '-c', 'kill -KILL $$'])).code).toBe(137);
  });

  /** The command lines running in the sandbox (its own /proc), to see that nothing was left behind. */
  const processes = async (id: string) =>
    (await client.sandboxes.exec(id, { script: "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done" })).stdout;
  const until = async (what: string, probe: () => Promise<boolean>, ms = 15_000) => {
    const deadline = Date.now() + ms;
    while (!(await probe())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('Ctrl-C is passed on to the command; a second one drops a command that ignores it, which is then killed', async () => {
    const id = await create();
    const started = (script: string) => {
      const proc = spawn(process.execPath, [CLI, 'sandbox', 'exec', id, '--', 'sh', '-c', script], {
        env: cliEnv(r.url, r.token),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const exited = once(proc, 'exit') as Promise<[number | null, string | null]>;
      const ready = new Promise<void>((resolve) => proc.stdout.on('data', (b: Buffer) => b.includes('ready') && resolve()));
      return { proc, exited, ready };
    };
    const a = started('echo ready; exec sleep 31');
    await a.ready;
    a.proc.kill('SIGINT');
    expect(await a.exited).toEqual([130, null]); // 128 + SIGINT, from the command itself

    const b = started('trap "" INT; echo ready; sleep 32; echo survived');
    await b.ready;
    b.proc.kill('SIGINT');
    await new Promise((res) => setTimeout(res, 500));
    expect(b.proc.exitCode).toBe(null); // ignored by the command
    expect(await processes(id)).toContain('sleep 32');
    b.proc.kill('SIGINT');
    expect(await b.exited).toEqual([130, null]);
    await until('the dropped command to be killed', async () => !(await processes(id)).includes('sleep 32'));
  });

  it('a reader that goes away (| head) ends the exec with 141, as SIGPIPE would, and the command is stopped', async () => {
    const id = await create();
    const pipeline = `"${process.execPath}" "${CLI}" sandbox exec ${id} -- yes paddock | head -n 2; echo "status \${PIPESTATUS[0]}"`;
    const { stdout } = await promisify(execFile)('bash', ['-c', pipeline], { env: cliEnv(r.url, r.token), timeout: 30_000 });
    expect(stdout).toBe('paddock\npaddock\nstatus 141\n');
    await until('yes to be stopped', async () => !(await processes(id)).includes('yes paddock'));
  });

  it('-i streams stdin into the command (byte-exact); without -i stdin is empty', async () => {
    const id = await create();
    const input = randomBytes(3 * 1024 * 1024);
    const res = await cli(['sandbox', 'exec', '-i', id, '--', 'sh', '-c', 'sha256sum; echo done >&2'], input);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.toString().split(' ')[0]).toBe(sha256(input));
    expect(res.stderr).toBe('done\n');
    const none = await cli(['sandbox', 'exec', id, '--', 'wc', '-c'], 'not sent');
    expect(none.stdout.toString().trim()).toBe('0');
    // The command may stop reading early: the CLI still ends with its code.
    const early = await cli(['sandbox', 'exec', '-i', id, '--', 'head', '-c', '5'], 'y'.repeat(2 * 1024 * 1024));
    expect([early.code, early.stdout.toString()]).toEqual([0, 'yyyyy']);
  });

  it('cp copies files in and out, streamed and byte-exact; - is stdin/stdout; a directory takes the name', async () => {
    const id = await create();
    const blob = randomBytes(5 * 1024 * 1024 + 3);
    const local = path.join(tmp, 'blob.bin');
    writeFileSync(local, blob);
    expect((await cli(['sandbox', 'cp', local, `${id}:/work/blob.bin`])).code).toBe(0);
    expect((await cli(['sandbox', 'exec', id, '--', 'sha256sum', '/work/blob.bin'])).stdout.toString().split(' ')[0]).toBe(sha256(blob));

    const back = path.join(tmp, 'back.bin');
    const down = await cli(['sandbox', 'cp', `${id}:/work/blob.bin`, back]);
    expect(down.code, down.stderr).toBe(0);
    expect(sha256(readFileSync(back))).toBe(sha256(blob));
    // Into a local directory: under the remote name.
    const dir = mkdtempSync(path.join(tmp, 'dir-'));
    expect((await cli(['sandbox', 'cp', `${id}:/work/blob.bin`, dir])).code).toBe(0);
    expect(readdirSync(dir)).toEqual(['blob.bin']);

    expect((await cli(['sandbox', 'cp', '-', `${id}:/work/in.txt`], 'from stdin\n')).code).toBe(0);
    const out = await cli(['sandbox', 'cp', `${id}:/work/in.txt`, '-']);
    expect(out.stdout.toString()).toBe('from stdin\n');

    // Into a sandbox directory: under the local name, executable bits kept.
    const script = path.join(tmp, 'hello.sh');
    writeFileSync(script, '#!/bin/sh\necho hello from script\n');
    chmodSync(script, 0o755);
    expect((await cli(['sandbox', 'cp', script, `${id}:/work`])).code).toBe(0);
    expect((await cli(['sandbox', 'exec', id, '--', '/work/hello.sh'])).stdout.toString()).toBe('hello from script\n');

    // A missing remote file: not_found, and no half file left behind.
    const missingFile = await cli(['sandbox', 'cp', `${id}:/work/nope`, path.join(tmp, 'nope')]);
    expect(missingFile.stderr).toMatch(/^paddock: not_found: /);
    expect(missingFile.code).toBe(4);
    expect(readdirSync(tmp).filter((f) => f.startsWith('nope'))).toEqual([]);
    // Neither side in a sandbox is a usage error.
    expect((await cli(['sandbox', 'cp', local, back])).code).toBe(2);
  });

  it('cp streams: copying a file larger than the CLI’s memory either way keeps the CLI small', async () => {
    const id = await create('--disk', '512');
    const size = 192 * 1024 * 1024;
    const big = path.join(tmp, 'big.bin');
    const chunk = randomBytes(1024 * 1024);
    const hash = createHash('sha256');
    const fd = openSync(big, 'w');
    for (let i = 0; i < size / chunk.length; i++) {
      chunk[0] = i & 0xff; // no two MiB alike
      writeSync(fd, chunk);
      hash.update(chunk);
    }
    closeSync(fd);
    const up = await cli(['sandbox', 'cp', big, `${id}:/work/big.bin`]);
    expect(up.code, up.stderr).toBe(0);
    const there = await cli(['sandbox', 'exec', id, '--', 'sha256sum', '/work/big.bin']);
    expect(there.stdout.toString().split(' ')[0]).toBe(hash.digest('hex'));
    const back = path.join(tmp, 'big-back.bin');
    const down = await cli(['sandbox', 'cp', `${id}:/work/big.bin`, back]);
    expect(down.code, down.stderr).toBe(0);
    expect(statSync(back).size).toBe(size);
    // Against the same CLI doing a small request: a file held whole would add its 192 MiB.
    const base = (await cli(['sandbox', 'ls'])).peakRssKb;
    console.log(`cp 192 MiB: CLI peak RSS up ${up.peakRssKb} KiB, down ${down.peakRssKb} KiB (ls: ${base} KiB)`);
    for (const res of [up, down]) expect(res.peakRssKb - base).toBeLessThan(80 * 1024);
    rmSync(back);
    // Over the sandbox's disk: the runner's refusal part way through, not a broken pipe.
    const full = await cli(['sandbox', 'cp', big, `${await create()}:/work/big.bin`]);
    expect(full.stderr).toMatch(/^paddock: driver_error: .*no space left on device/);
    expect(full.code).toBe(1);
    rmSync(big);
  });

  it('rm removes; afterwards the sandbox is not found; errors are paddock: <code>: … with the code’s exit status', async () => {
    const id = await create();
    const rm = await cli(['sandbox', 'rm', 'sbx_doesnotexist', id]);
    expect(rm.stdout.toString()).toBe(`${id}\n`);
    expect(rm.stderr).toMatch(/^paddock: not_found: /);
    expect(rm.code).toBe(4);
    const gone = await cli(['sandbox', 'exec', id, '--', 'true']);
    expect(gone.stderr).toMatch(/^paddock: not_found: /);
    expect(gone.code).toBe(4);
    const denied = await runCli(['sandbox', 'ls'], { url: r.url, token: 'wrong' });
    expect([denied.code, denied.stderr]).toEqual([3, expect.stringMatching(/^paddock: unauthorized: /)]);
  });

  it('snapshot, create --snapshot, fork, snapshots and snapshot-rm; a missing snapshot is not_found', async () => {
    const id = await create();
    const put = await cli(['sandbox', 'exec', id, '--', 'sh', '-c', 'echo kept > /work/k.txt']);
    expect(put.code, put.stderr).toBe(0);
    const snap = await cli(['sandbox', 'snapshot', id, '--label', 'v=1']);
    expect(snap.code, snap.stderr).toBe(0);
    const snapId = snap.stdout.toString().trim();
    expect(snapId).toMatch(/^snap_[0-9a-z]{26}$/);
    const ls = await cli(['sandbox', 'snapshots', '--json']);
    expect(JSON.parse(ls.stdout.toString())).toEqual([expect.objectContaining({ id: snapId, sandbox_id: id, kind: 'filesystem' })]);
    const from = await create('--snapshot', snapId);
    const forked = await cli(['sandbox', 'fork', id, '--count', '2']);
    expect(forked.code, forked.stderr).toBe(0);
    const ids = forked.stdout.toString().trim().split('\n');
    expect(ids).toHaveLength(2);
    for (const s of [from, ...ids]) {
      const cat = await cli(['sandbox', 'exec', s, '--', 'cat', '/work/k.txt']);
      expect([cat.code, cat.stdout.toString()]).toEqual([0, 'kept\n']);
    }
    const rm = await cli(['sandbox', 'snapshot-rm', snapId, 'snap_0000000000000000000000000z']);
    expect(rm.stdout.toString()).toBe(`${snapId}\n`);
    expect([rm.code, rm.stderr]).toEqual([4, expect.stringMatching(/^paddock: not_found: /)]);
    const again = await cli(['sandbox', 'create', '--snapshot', snapId]);
    expect([again.code, again.stderr]).toEqual([4, expect.stringMatching(/^paddock: not_found: /)]);
    expect((await cli(['sandbox', 'rm', id, from, ...ids])).code).toBe(0);
  }, 120_000);

  it('client: exec, execStream with stdin and kill, pause/resume, events, files, TTL, and list over cursor pages', async () => {
    const sbx = await client.sandboxes.create({ driver: 'docker', labels: { suite: 'client' } });
    const ran = await client.sandboxes.exec(sbx.id, { script: 'printf out; printf err >&2; exit 3', stdin: 'x' });
    expect(ran).toMatchObject({ exit_code: 3, stdout: 'out', stderr: 'err', timed_out: false });

    const stream = await client.sandboxes.execStream(sbx.id, { command: ['sh', '-c', 'while read l; do echo "got $l"; done'] }, {
      stdin: (async function* () {
        yield 'a\n';
        yield 'b\n';
      })(),
    });
    const lines: string[] = [];
    let result;
    for await (const e of stream) {
      if (e.type === 'stdout') lines.push(e.data);
      if (e.type === 'exit') result = e.result;
    }
    expect([lines.join(''), result?.exit_code]).toEqual(['got a\ngot b\n', 0]);

    const sleeper = await client.sandboxes.execStream(sbx.id, { command: ['sleep', '60'] });
    const it = sleeper[Symbol.asyncIterator]();
    expect((await it.next()).value).toMatchObject({ type: 'started' });
    await sleeper.kill('KILL');
    let end = await it.next();
    while (!end.done && end.value.type !== 'exit') end = await it.next();
    expect(end.value).toMatchObject({ type: 'exit', result: { signal: expect.stringMatching(/KILL/) } });

    const files = client.sandboxes.files;
    await files.mkdir(sbx.id, '/work/a/b', { parents: true });
    await files.upload(sbx.id, '/work/a/b/x.txt', 'hello');
    expect(await files.stat(sbx.id, '/work/a/b/x.txt')).toMatchObject({ type: 'file', size: 5, name: 'x.txt' });
    await files.move(sbx.id, '/work/a/b/x.txt', '/work/a/y.txt');
    const listed = await files.list(sbx.id, '/work/a');
    expect(listed.entries.map((e) => `${e.name}:${e.type}`).sort()).toEqual(['b:dir', 'y.txt:file']);
    const dl = await files.download(sbx.id, '/work/a/y.txt');
    expect([dl.size, await new Response(dl.body).text()]).toEqual([5, 'hello']);
    await files.remove(sbx.id, '/work/a', { recursive: true });
    await expect(files.stat(sbx.id, '/work/a')).rejects.toMatchObject({ code: 'not_found' });

    expect((await client.sandboxes.pause(sbx.id)).state).toBe('paused');
    await expect(client.sandboxes.exec(sbx.id, { command: ['true'] })).rejects.toMatchObject({ code: 'conflict', status: 409 });
    expect((await client.sandboxes.resume(sbx.id)).state).toBe('running');
    expect((await client.sandboxes.exec(sbx.id, { command: ['true'] })).exit_code).toBe(0);

    // Its lifecycle events, from the start (the runner keeps the recent ones), to the end.
    const seen: string[] = [];
    const events = (async () => {
      for await (const e of client.sandboxes.events(sbx.id)) seen.push(e.event);
    })();

    const ttl = await client.sandboxes.timeout(sbx.id, 120_000);
    expect(Date.parse(ttl.expires_at!) - Date.parse(ttl.last_used_at)).toBe(120_000);

    const more = [await client.sandboxes.create({ driver: 'docker', labels: { suite: 'client' } })];
    const ids: string[] = [];
    for await (const s of client.sandboxes.list({ label: { suite: 'client' }, limit: 1 })) ids.push(s.id);
    expect(ids.sort()).toEqual([sbx.id, more[0]!.id].sort());
    for (const id of ids) await client.sandboxes.delete(id);
    await expect(client.sandboxes.get(sbx.id)).rejects.toMatchObject({ code: 'not_found', status: 404 });
    await events; // ends after `destroyed`
    expect(seen[0]).toBe('created');
    expect(seen).toEqual(expect.arrayContaining(['exec_started', 'exec_ended', 'paused', 'resumed']));
    expect(seen.at(-1)).toBe('destroyed');
  });

  it('leaves no partial download behind', () => {
    expect(readdirSync(tmp).filter((f) => f.endsWith('.part'))).toEqual([]);
    expect(existsSync(path.join(tmp, 'back.bin'))).toBe(true);
  });
});
