import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from '../../util/log.js';
import { processAlive } from '../../util/pid.js';

/** How long a connection to the channel socket gets to say whose it is. */
const TOKEN_TIMEOUT_MS = 5000;
const TOKEN_BYTES = 16;

export interface SpawnRequest {
  file: string;
  args: string[];
  env: Record<string, string>;
  uid?: number | undefined;
  gid?: number | undefined;
  /** Opened by the spawner and given to the child as fd 5. */
  seccompFile: string;
  /** Give the child a --block-fd (4) that `unblock` releases. */
  block: boolean;
}

/** What the spawner reports of one child (spawner/main.go). */
export interface SpawnEvents {
  onPid(pid: number): void;
  onChannel(socket: net.Socket): void;
  onStatus(text: string): void;
  onStatusEnd(): void;
  onStderr(text: string): void;
  onExit(code: number | null, signal: string | null, error?: Error): void;
}

interface Report {
  id?: string;
  pid?: number;
  error?: string;
  status?: string;
  status_end?: boolean;
  stderr?: string;
  exit?: number | null;
  signal?: string | null;
}

/**
 * The runner's side of paddock-spawner (spawner/main.go): one small process that forks the
 * bwrap processes, because Node forks its whole address space for each child it spawns. Each
 * child's stdin and stdout are one connection to a Unix socket of ours (in a private directory),
 * which first carries the child's token: the agent's channel never passes through the spawner.
 */
export class Spawner {
  private proc: ChildProcess | undefined;
  private server: net.Server | undefined;
  private socketDir: string | undefined;
  private starting: Promise<void> | undefined;
  private readonly children = new Map<string, SpawnEvents>();
  /** Connections by token, and tokens by id, until they meet. */
  private readonly channels = new Map<string, net.Socket>();
  private readonly tokens = new Map<string, string>();
  private nextId = 0;

  /**
   * `dir`: where the channel socket goes (the runner's data dir), as `spawner-<pid>.sock`; one
   * a killed runner left there is removed at the next start. A dir whose path would be too long
   * for a Unix socket (108 bytes) gives way to a private one under the system's tmp dir.
   */
  constructor(
    private readonly binary: string,
    private readonly log: Logger,
    private readonly dir: string,
  ) {}

  /** The spawner's pid while it runs (tests). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** The channel socket's path, once started (tests). */
  socketPath: string | undefined;

  /** Picks the socket's path (see the constructor), removing what dead runners left. */
  private socketFile(): string {
    const name = `spawner-${process.pid}.sock`;
    if (path.join(this.dir, name).length <= 100) {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      for (const f of readdirSync(this.dir)) {
        const m = /^spawner-(\d+)\.sock$/.exec(f);
        if (m && !processAlive(Number(m[1]))) rmSync(path.join(this.dir, f), { force: true });
      }
      this.socketPath = path.join(this.dir, name);
      rmSync(this.socketPath, { force: true });
    } else {
      this.socketDir = mkdtempSync(path.join(os.tmpdir(), 'paddock-spawner-'));
      this.socketPath = path.join(this.socketDir, name);
    }
    return this.socketPath;
  }

  /** Starts the spawner and the socket once; again after the spawner died. */
  private ready(): Promise<void> {
    this.starting ??= this.start().catch((err: unknown) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  private async start(): Promise<void> {
    if (!this.server) {
      const socket = this.socketFile();
      const server = net.createServer((s) => this.accept(s));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(socket, () => resolve());
      });
      server.on('error', (err) => this.log.warn({ err }, 'spawner socket error'));
      this.server = server;
    }
    const proc = spawn(this.binary, [], { stdio: ['pipe', 'pipe', 'inherit'], cwd: '/' });
    await new Promise<void>((resolve, reject) => {
      proc.once('spawn', resolve);
      proc.once('error', reject);
    });
    proc.stdin!.on('error', () => undefined);
    createInterface({ input: proc.stdout!, crlfDelay: Infinity }).on('line', (line) => this.onReport(line));
    proc.once('exit', (code, signal) => {
      if (this.proc !== proc) return;
      this.proc = undefined;
      this.starting = undefined;
      this.log.warn({ code, signal }, 'the bwrap spawner exited; its sandboxes died with it');
      const lost = new Error(`the spawner exited (${signal ?? `status ${code}`})`);
      for (const [, ev] of this.children) ev.onExit(null, 'SIGKILL', lost);
      this.children.clear();
      this.tokens.clear();
    });
    this.proc = proc;
  }

  /** Starts one child; its events arrive on `ev`. Resolves with its id (for unblock). */
  async spawn(req: SpawnRequest, ev: SpawnEvents): Promise<string> {
    await this.ready();
    // It may have died between starting and now; its exit already failed every child it had.
    if (!this.proc) throw new Error('the bwrap spawner is not running');
    const id = String(++this.nextId);
    const token = randomBytes(TOKEN_BYTES).toString('hex');
    this.children.set(id, ev);
    this.tokens.set(token, id);
    this.send({
      op: 'spawn',
      id,
      file: req.file,
      args: [req.file, ...req.args],
      env: Object.entries(req.env).map(([k, v]) => `${k}=${v}`),
      uid: req.uid,
      gid: req.gid,
      socket: this.socketPath,
      token,
      seccomp: req.seccompFile,
      block: req.block,
    });
    return id;
  }

  unblock(id: string): void {
    this.send({ op: 'unblock', id });
  }

  private send(msg: Record<string, unknown>): void {
    this.proc?.stdin!.write(`${JSON.stringify(msg)}\n`);
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => undefined);
    const timer = setTimeout(() => socket.destroy(), TOKEN_TIMEOUT_MS);
    const want = TOKEN_BYTES * 2 + 1;
    const onReadable = () => {
      const head = socket.read(want) as Buffer | null;
      if (!head) return;
      socket.off('readable', onReadable);
      clearTimeout(timer);
      const id = this.tokens.get(head.toString('latin1', 0, want - 1));
      const ev = id === undefined ? undefined : this.children.get(id);
      if (!ev || head[want - 1] !== 0x0a) return void socket.destroy();
      this.tokens.delete(head.toString('latin1', 0, want - 1));
      ev.onChannel(socket);
    };
    socket.on('readable', onReadable);
  }

  private onReport(line: string): void {
    let r: Report;
    try {
      r = JSON.parse(line) as Report;
    } catch {
      return this.log.warn({ line: line.slice(0, 200) }, 'the bwrap spawner said something unparseable');
    }
    const ev = r.id === undefined ? undefined : this.children.get(r.id);
    if (!ev) return;
    if (r.pid !== undefined) ev.onPid(r.pid);
    if (r.status !== undefined) ev.onStatus(r.status);
    if (r.status_end) ev.onStatusEnd();
    if (r.stderr !== undefined) ev.onStderr(r.stderr);
    if (r.error !== undefined || 'exit' in r) {
      this.children.delete(r.id!);
      for (const [t, id] of this.tokens) if (id === r.id) this.tokens.delete(t);
      ev.onExit(r.exit ?? null, r.signal ?? null, r.error !== undefined ? new Error(r.error) : undefined);
    }
  }

  /** Stops the spawner (every child dies with it) and removes the socket. */
  async close(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    this.starting = undefined;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.stdin!.end();
      await exited;
    }
    // Not waited on: the connections it accepted belong to their sandboxes, which end them.
    this.server?.close();
    this.server = undefined;
    if (this.socketPath) rmSync(this.socketPath, { force: true });
    if (this.socketDir) rmSync(this.socketDir, { recursive: true, force: true });
    this.socketDir = undefined;
    this.socketPath = undefined;
  }
}
