import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { buffer, text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../src/sandbox/agent/agent-client.js';
import { AgentError } from '../src/sandbox/agent/errors.js';

// The runner's client against the real paddock-agent (dist/agent/paddock-agent), on the host over
// stdio pipes — no sandbox: this tests the two ends of docs/agent-protocol.md against each other.
const AGENT = path.resolve('dist/agent/paddock-agent');
const ENV = { PATH: '/usr/local/bin:/usr/bin:/bin' };

interface Agent {
  child: ChildProcess;
  client: AgentClient;
  stderr: () => string;
  exited: Promise<number | null>;
}

async function startAgent(): Promise<Agent> {
  const child = spawn(AGENT, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const client = await AgentClient.connect({ readable: child.stdout!, writable: child.stdin! }, { helloTimeoutMs: 5000 });
  return { child, client, stderr: () => stderr, exited };
}

async function run(client: AgentClient, argv: string[], cwd = '/', stdin?: Buffer) {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const h = client.exec({ argv, env: ENV, cwd, stdin: stdin !== undefined }, { onStdout: (c) => out.push(c), onStderr: (c) => err.push(c) });
  if (stdin) h.stdin!.end(stdin);
  const result = await h.result;
  return { ...result, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() };
}

describe('agent protocol against the real paddock-agent', () => {
  let agent: Agent;
  let dir: string;

  beforeAll(async () => {
    // Built by scripts/build-agent.sh; build it here when it is missing (needs Go) rather than skip.
    if (!existsSync(AGENT)) execFileSync('bash', ['scripts/build-agent.sh'], { stdio: 'inherit' });
    dir = mkdtempSync(path.join(os.tmpdir(), 'paddock-agent-'));
    agent = await startAgent();
  });

  afterAll(async () => {
    agent?.client.close();
    // The agent saw the runner close the connection, not a protocol error: it exits 0, saying nothing.
    expect(await agent.exited).toBe(0);
    expect(agent.stderr()).toBe('');
    rmSync(dir, { recursive: true, force: true });
  });

  it('says HELLO and answers PING', async () => {
    expect(agent.client.session.agent).toMatchObject({ pid: agent.child.pid, version: expect.any(String) });
    expect(await agent.client.ping()).toBeGreaterThanOrEqual(0);
  });

  it('exec: stdout, stderr, exit code, exactly the env given, the cwd', async () => {
    const r = await run(agent.client, ['sh', '-c', 'echo out; echo err >&2; echo "$FOO|$PATH"; pwd; exit 3'], dir);
    expect(r.stdout.toString()).toBe(`out\n|${ENV.PATH}\n${dir}\n`);
    expect(r.stderr).toBe('err\n');
    expect(r).toMatchObject({ exitCode: 3, signal: null });
    expect(r.maxRssKb).toBeGreaterThan(0);
    expect(r.wallMs).toBeGreaterThanOrEqual(0);
  });

  it('exec: a signal ends it (its own, CONTROL, cancel)', async () => {
    expect(await run(agent.client, ['sh', '-c', 'kill -TERM $$'])).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
    const sleeper = agent.client.exec({ argv: ['sleep', '30'], env: ENV, cwd: '/' });
    await sleeper.started;
    sleeper.control('KILL');
    expect(await sleeper.result).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
    const cancelled = agent.client.exec({ argv: ['sleep', '30'], env: ENV, cwd: '/' });
    await cancelled.started;
    const t0 = Date.now();
    cancelled.cancel();
    expect((await cancelled.result).signal).toBe('SIGKILL');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('exec: stdin of 1 MiB comes back through cat', async () => {
    const input = randomBytes(1 << 20);
    const r = await run(agent.client, ['cat'], '/', input);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.equals(input)).toBe(true);
  });

  it('exec: a consumer that does not take the output holds the process back at one window', async () => {
    let onTransport = 0;
    const count = (c: Buffer) => (onTransport += c.length);
    agent.child.stdout!.on('data', count);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let taken = 0;
    const stdout = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _e, cb) {
        taken += chunk.length;
        gate.then(() => cb());
      },
    });
    const total = 8 << 20;
    const h = agent.client.exec({ argv: ['head', '-c', String(total), '/dev/zero'], env: ENV, cwd: '/' }, { stdout });
    await new Promise((r) => setTimeout(r, 300));
    // One window (262144 bytes) plus frame headers and the STARTED frame; the rest waits in the agent.
    expect(onTransport).toBeLessThan(262144 + 8192);
    release();
    expect((await h.result).exitCode).toBe(0);
    expect(taken).toBe(total);
    agent.child.stdout!.off('data', count);
  });

  it('exec: a PTY of the size asked for, resized on CONTROL', async () => {
    let out = '';
    const h = agent.client.exec(
      { argv: ['sh', '-c', 'stty size; read x; stty size'], env: ENV, cwd: '/', stdin: true, pty: { rows: 30, cols: 100 } },
      { onStdout: (c) => (out += c.toString()) },
    );
    await h.started;
    for (let i = 0; i < 100 && !out.includes('30 100'); i++) await new Promise((r) => setTimeout(r, 10));
    h.resize(40, 120);
    await new Promise((r) => setTimeout(r, 50));
    h.stdin!.write('go\n');
    expect((await h.result).exitCode).toBe(0);
    expect(out).toMatch(/30 100\r?\n[\s\S]*40 120/);
  });

  it('exec: rlimits bind the command, not the agent', async () => {
    const collect = (rlimits?: { nofile: number; cpu: number }) => {
      let out = '';
      const h = agent.client.exec({ argv: ['sh', '-c', 'ulimit -n; ulimit -t'], env: ENV, cwd: '/', rlimits }, { onStdout: (c) => (out += c) });
      return h.result.then((r) => ({ ...r, out }));
    };
    const limited = await collect({ nofile: 64, cpu: 7 });
    expect(limited).toMatchObject({ exitCode: 0, out: '64\n7\n' });
    // The next exec without rlimits is not bound by the last one's.
    const free = await collect();
    expect(free.out).not.toBe('64\n7\n');
    expect(free.out.split('\n')[1]).toBe('unlimited');
  });

  it('exec: wall_ms — the agent kills the group at the deadline and says so', async () => {
    const t0 = Date.now();
    const r = await agent.client.exec({ argv: ['sh', '-c', 'sleep 10 & exec sleep 10'], env: ENV, cwd: '/', wallMs: 300 }).result;
    expect(r).toMatchObject({ signal: 'SIGKILL', killed: 'wall' });
    expect(r.wallMs).toBeGreaterThanOrEqual(300);
    expect(Date.now() - t0).toBeLessThan(2000);
    // Done in time: not killed.
    expect(await agent.client.exec({ argv: ['true'], env: ENV, cwd: '/', wallMs: 5000 }).result).toMatchObject({ exitCode: 0, killed: null });
  });

  it('exec: kill_on_exit — what it left is killed and reaped before RESULT; the next exec sees none of it', async () => {
    // Host pids (the agent is not in a pid namespace here): /proc/<pid> exists while not reaped, zombies too.
    const alive = (pid: number) => existsSync(`/proc/${pid}`);
    const pidsOf = (out: Buffer) => out.toString().trim().split(/\s+/).map(Number);
    // The sleep 0.2: the setsid must have happened before the group is killed.
    const script = 'sleep 30 & echo $!; setsid sleep 30 & echo $!; sleep 0.2';
    const outOf = async (killOnExit: 'group' | 'sandbox') => {
      const out: Buffer[] = [];
      const r = await agent.client.exec({ argv: ['sh', '-c', script], env: ENV, cwd: '/', killOnExit }, { onStdout: (c) => out.push(c) }).result;
      expect(r.exitCode).toBe(0);
      return pidsOf(Buffer.concat(out));
    };
    const [inGroup, escaped] = await outOf('group');
    expect([alive(inGroup!), alive(escaped!)]).toEqual([false, true]); // setsid left the group
    process.kill(escaped!, 'SIGKILL');

    const t0 = Date.now();
    const both = await outOf('sandbox');
    expect(both.map(alive)).toEqual([false, false]);
    expect(Date.now() - t0).toBeLessThan(1500);
    const next = await run(agent.client, ['sh', '-c', `for p in ${both.join(' ')}; do [ -e /proc/$p ] && echo left $p; done; true`]);
    expect(next.stdout.toString()).toBe('');
  });

  it('exec: the command gets oom_score_adj 1000, the agent keeps its own', async () => {
    expect((await run(agent.client, ['cat', '/proc/self/oom_score_adj'])).stdout.toString()).toBe('1000\n');
    expect(readFileSync(`/proc/${agent.child.pid}/oom_score_adj`, 'utf8').trim()).not.toBe('1000');
  });

  it('exec: a command that cannot start is exec_failed or not_found', async () => {
    const err = await run(agent.client, ['/nonexistent/program']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect(['exec_failed', 'not_found']).toContain((err as AgentError).agentCode);
  });

  it('runs 20 execs at once, each with its own output', async () => {
    const rs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => run(agent.client, ['sh', '-c', `for j in 1 2 3; do echo ${i}-$j; done; exit ${i}`])),
    );
    rs.forEach((r, i) => {
      expect(r.stdout.toString()).toBe(`${i}-1\n${i}-2\n${i}-3\n`);
      expect(r.exitCode).toBe(i);
    });
  });

  it('writes and reads back 1 MiB; stat sees it', async () => {
    const content = randomBytes(1 << 20);
    const file = path.join(dir, 'sub', 'blob');
    const w = await agent.client.writeFile(file, Readable.from([content.subarray(0, 1000), content.subarray(1000)]), {
      mode: 0o600,
      mkdirs: true,
    });
    expect(w.size).toBe(content.length);
    expect(readFileSync(file).equals(content)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const r = await agent.client.readFile(file);
    expect([r.size, r.mode]).toEqual([content.length, 0o600]);
    expect((await buffer(r.stream)).equals(content)).toBe(true);
    const part = await agent.client.readFile(file, { offset: 10, length: 5 });
    expect((await buffer(part.stream)).equals(content.subarray(10, 15))).toBe(true);
    expect(await agent.client.stat(file)).toMatchObject({ name: 'blob', path: file, type: 'file', size: content.length, mode: 0o600 });
    await agent.client.writeFile(path.join(dir, 'small'), 'hello');
    await agent.client.writeFile(path.join(dir, 'small'), ' world', { append: true });
    expect(await text((await agent.client.readFile(path.join(dir, 'small'))).stream)).toBe('hello world');
  });

  it('file errors carry the agent’s code', async () => {
    await expect(agent.client.stat(path.join(dir, 'missing'))).rejects.toMatchObject({ agentCode: 'not_found', code: 'not_found' });
    await expect(agent.client.readFile(dir)).rejects.toMatchObject({ agentCode: 'is_dir' });
    mkdirSync(path.join(dir, 'full'));
    writeFileSync(path.join(dir, 'full', 'x'), 'x');
    await expect(agent.client.remove(path.join(dir, 'full'))).rejects.toMatchObject({ agentCode: 'not_empty' });
    writeFileSync(path.join(dir, 'other'), 'o');
    await expect(agent.client.rename(path.join(dir, 'other'), path.join(dir, 'full', 'x'))).rejects.toMatchObject({ agentCode: 'exists' });
    await agent.client.rename(path.join(dir, 'other'), path.join(dir, 'full', 'x'), { overwrite: true });
    expect(readFileSync(path.join(dir, 'full', 'x'), 'utf8')).toBe('o');
    await agent.client.remove(path.join(dir, 'full'), { recursive: true });
    expect(existsSync(path.join(dir, 'full'))).toBe(false);
  });

  it('mkdir and list (depth, symlinks, truncation)', async () => {
    const base = path.join(dir, 'tree');
    await agent.client.mkdir(path.join(base, 'a', 'b'), { parents: true });
    writeFileSync(path.join(base, 'a', 'b', 'f'), 'ff');
    writeFileSync(path.join(base, 'top'), 't');
    execFileSync('ln', ['-s', 'top', path.join(base, 'link')]);
    const one = await agent.client.list(base);
    expect(one.entries.map((e) => [e.name, e.type]).sort()).toEqual([['a', 'dir'], ['link', 'symlink'], ['top', 'file']]);
    expect(one.entries.find((e) => e.name === 'link')?.target).toBe('top');
    const deep = await agent.client.list(base, { depth: 3 });
    expect(deep.entries.map((e) => path.relative(base, e.path)).sort()).toEqual(['a', 'a/b', 'a/b/f', 'link', 'top']);
    expect(deep.truncated).toBe(false);
    const cut = await agent.client.list(base, { depth: 3, maxEntries: 2 });
    expect(cut.entries).toHaveLength(2);
    expect(cut.truncated).toBe(true);
  });

  it('lists 5000 entries (many frames, lines across frame boundaries)', async () => {
    const many = path.join(dir, 'many');
    mkdirSync(many);
    for (let i = 0; i < 5000; i++) writeFileSync(path.join(many, `file-with-a-longish-name-${i}`), '');
    const r = await agent.client.list(many);
    expect(r.entries).toHaveLength(5000);
    expect(new Set(r.entries.map((e) => e.name)).size).toBe(5000);
  });

  it('connect reaches a listener on 127.0.0.1', async () => {
    const server = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const sock = await agent.client.connect(port);
      const payload = randomBytes(600_000);
      const echoed = buffer(sock);
      sock.end(payload);
      expect((await echoed).equals(payload)).toBe(true);
      await expect(agent.client.connect(1)).rejects.toMatchObject({ agentCode: 'refused' });
    } finally {
      server.close();
    }
  });

  it('listen accepts connections and hands them over', async () => {
    const listener = await agent.client.listen(0, (sock, { peerPort }) => {
      sock.on('data', (c: Buffer) => sock.write(`${peerPort}:${c.toString().toUpperCase()}`));
      sock.on('end', () => sock.end());
    });
    expect(listener.port).toBeGreaterThan(0);
    const client = net.connect(listener.port, '127.0.0.1');
    await new Promise<void>((r) => client.once('connect', r));
    const localPort = client.localPort;
    const reply = text(client);
    client.end('hello');
    expect(await reply).toBe(`${localPort}:HELLO`);
    await listener.close();
    await expect(
      new Promise((res, rej) => net.connect(listener.port, '127.0.0.1').once('connect', res).once('error', rej)),
    ).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('a killed agent', () => {
  it('fails every open operation with agent_died, and every later one', async () => {
    const a = await startAgent();
    const sleeper = a.client.exec({ argv: ['sleep', '30'], env: ENV, cwd: '/' });
    const { pid } = await sleeper.started;
    try {
      const big = path.join(os.tmpdir(), `paddock-agent-big-${process.pid}`);
      writeFileSync(big, Buffer.alloc(4 << 20));
      const reading = await a.client.readFile(big);
      rmSync(big);
      const upload = a.client.writeFile('/tmp/never', new Readable({ read() {} }));
      const stream = buffer(reading.stream);
      a.child.kill('SIGKILL');
      await expect(sleeper.result).rejects.toMatchObject({ code: 'agent_died' });
      await expect(upload).rejects.toMatchObject({ code: 'agent_died' });
      await expect(stream).rejects.toMatchObject({ code: 'agent_died' });
      await expect(a.client.stat('/')).rejects.toMatchObject({ code: 'agent_died' });
      expect((await a.client.session.closed).code).toBe('agent_died');
    } finally {
      // Not PID 1 on the host: what it started outlives it unless killed here.
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  });
});
