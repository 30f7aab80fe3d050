import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnerBinaryPath } from '../src/sandbox/agent-binary.js';
import { type SpawnEvents, Spawner } from '../src/sandbox/bwrap/spawner.js';
import { createLogger } from '../src/util/log.js';

// The process that forks bwrap for the runner (spawner/main.go), driven directly: what it gives
// the child, what it reports, and what happens when it dies.
const dir = mkdtempSync(path.join(os.tmpdir(), 'paddock-spawner-test-'));
// What a killed runner left: the socket of a pid that is gone.
const deadPid = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
writeFileSync(path.join(dir, `spawner-${deadPid}.sock`), '');
const spawner = new Spawner(spawnerBinaryPath(), createLogger('silent'), dir);
afterAll(async () => {
  await spawner.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Seen {
  pid?: number;
  channel?: net.Socket;
  status: string;
  statusEnd: boolean;
  stderr: string;
  exit?: { code: number | null; signal: string | null; error?: string };
}

function start(script: string, opts: { uid?: number; block?: boolean } = {}) {
  const seen: Seen = { status: '', statusEnd: false, stderr: '' };
  let ended!: () => void;
  const done = new Promise<void>((r) => (ended = r));
  let connected!: (s: net.Socket) => void;
  const channel = new Promise<net.Socket>((r) => (connected = r));
  const ev: SpawnEvents = {
    onPid: (pid) => (seen.pid = pid),
    onChannel: (s) => {
      seen.channel = s;
      connected(s);
    },
    onStatus: (t) => (seen.status += t),
    onStatusEnd: () => (seen.statusEnd = true),
    onStderr: (t) => (seen.stderr += t),
    onExit: (code, signal, error) => {
      seen.exit = { code, signal, ...(error ? { error: error.message } : {}) };
      ended();
    },
  };
  const id = spawner.spawn(
    {
      file: 'sh',
      args: ['-c', script],
      env: { PATH: '/usr/bin:/bin', ONLY: 'this' },
      uid: opts.uid,
      gid: opts.uid,
      seccompFile: '/etc/hostname',
      block: opts.block ?? false,
    },
    ev,
  );
  return { seen, done, channel, id };
}

describe('bwrap spawner', () => {
  it("gives the child the channel as stdin and stdout, its stderr, status and seccomp fds, the env, and reports its exit", async () => {
    const c = start('echo "$ONLY $(env | wc -l)" >&2; echo "{\\"child-pid\\": 7}" >&3; exec 3>&-; cat /proc/self/fd/5 >&2; head -c 5; exit 3');
    const socket = await c.channel;
    const echoed = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (d) => (text += d));
      // 'close', not 'end': the child left " world" unread, so its end is a reset.
      socket.on('close', () => resolve(text));
    });
    socket.write('hello world');
    await c.done;
    expect(await echoed).toBe('hello');
    const hostname = (await import('node:fs')).readFileSync('/etc/hostname', 'utf8');
    expect(c.seen).toMatchObject({ status: '{"child-pid": 7}\n', statusEnd: true, stderr: `this 3\n${hostname}`, exit: { code: 3, signal: null } });
    expect(c.seen.pid).toBeGreaterThan(1);
  });

  it('runs the child as the uid it is given, held on its block fd until unblocked', async () => {
    if (process.getuid?.() !== 0) return; // only root can give another uid
    const c = start('read -r go <&4; echo "$go $(id -u) $(id -g) $(id -G)" >&2', { uid: 61999, block: true });
    await new Promise((r) => setTimeout(r, 200));
    expect(c.seen.exit).toBeUndefined(); // still blocked
    spawner.unblock(await c.id);
    await c.done;
    expect(c.seen.stderr).toBe('go 61999 61999 61999\n');
  });

  it('reports a child that cannot start, and a signal', async () => {
    const missing = spawner.spawn(
      { file: '/nonexistent/bwrap', args: [], env: {}, seccompFile: '/etc/hostname', block: false },
      { onPid() {}, onChannel() {}, onStatus() {}, onStatusEnd() {}, onStderr() {}, onExit: (code, signal, err) => exits.push(err?.message ?? `${code} ${signal}`) },
    );
    const exits: string[] = [];
    await missing;
    const c = start('kill -9 $$');
    await c.done;
    expect(c.seen.exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(exits[0]).toMatch(/no such file or directory/);
  });

  it("keeps its socket in the runner's dir, and removed the one a dead runner left", () => {
    expect(spawner.socketPath).toBe(path.join(dir, `spawner-${process.pid}.sock`));
    expect(existsSync(path.join(dir, `spawner-${deadPid}.sock`))).toBe(false);
  });

  it('closes a connection that does not bring a token it knows', async () => {
    start('sleep 0.1'); // started, so the socket exists
    const socket = net.connect(spawner.socketPath!);
    socket.write(`${'0'.repeat(32)}\n`);
    await new Promise((r) => socket.once('close', r));
  });

  it('dies: its children die with it and say so; the next spawn starts a new spawner', async () => {
    const c = start('sleep 30');
    await c.channel;
    while (c.seen.pid === undefined) await new Promise((r) => setTimeout(r, 5));
    const first = spawner.pid!;
    process.kill(first, 'SIGKILL');
    await c.done;
    expect(c.seen.exit?.error).toMatch(/spawner exited/);
    process.kill(c.seen.pid!, 'SIGKILL');
    // bwrap's --die-with-parent is what ends a real sandbox; this child is gone because its channel is.
    const again = start('echo back >&2');
    await again.done;
    expect(again.seen.stderr).toBe('back\n');
    expect(spawner.pid).not.toBe(first);
  });
});
