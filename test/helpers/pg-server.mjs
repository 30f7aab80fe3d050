// A private PostgreSQL server (Debian's binaries, its own data dir and port, trust auth on 127.0.0.1
// only), for the tests (test/helpers/postgres.ts) and the fleet bench (bench/fleet.mjs). Plain JS so
// both can load it; types in pg-server.d.mts. Durability is traded for speed (fsync off): these
// databases live for one run.
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, chownSync, cpSync, existsSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { freePort } from './ports.mjs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The newest installed PostgreSQL's bin dir, or undefined (then the PostgreSQL variants cannot run). */
export function postgresBinDir() {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'postgres')));
  versions.sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : undefined;
}

/** postgres refuses to run as root: as root, run it as the `postgres` user the package made. */
function owner() {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

function chownTree(dir, who) {
  if (!who) return;
  chownSync(dir, who.uid, who.gid);
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    chownSync(path.join(entry.parentPath, entry.name), who.uid, who.gid);
  }
}

/** initdb once per version and machine (~1 s), then copy: each server starts from that template. */
function templateDir(bin, who) {
  const dir = path.join(os.tmpdir(), `paddock-pg-template-${path.basename(path.dirname(bin))}-${who ? 'postgres' : process.getuid?.()}`);
  if (existsSync(path.join(dir, 'PG_VERSION'))) return dir;
  const work = mkdtempSync(`${dir}.tmp-`);
  chownTree(work, who);
  execFileSync(path.join(bin, 'initdb'), ['-D', work, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8'], {
    stdio: 'ignore',
    ...who,
  });
  try {
    renameSync(work, dir);
  } catch {
    rmSync(work, { recursive: true, force: true }); // another run made it first
  }
  return dir;
}

/** $1 the data dir, the rest postgres's argv. Fast shutdown (SIGINT) once stdin reaches EOF. */
const WATCHDOG = `dir="$1"; shift; "$@" & pid=$!; parent=$PPID
cat >/dev/null; kill -INT $pid 2>/dev/null; wait $pid
[ -d /proc/$parent ] || rm -rf "$dir"`;

/**
 * @param {{ listen?: string, allow?: string }} [opts] `listen`: one more address to listen on (a test's
 *   own bridge); `allow`: a CIDR whose clients are trusted too (hosts in that test's network namespaces).
 * @returns {Promise<import('./pg-server.mjs').PgServer>}
 */
export async function startPostgres(opts = {}) {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed (apt-get install postgresql; scripts/install-postgres.sh)');
  const who = owner();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'paddock-pg-'));
  cpSync(templateDir(bin, who), dir, { recursive: true });
  if (opts.allow) appendFileSync(path.join(dir, 'pg_hba.conf'), `host all all ${opts.allow} trust\n`);
  chownTree(dir, who);
  const port = await freePort();
  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;
  /** @type {import('node:child_process').ChildProcess | undefined} */
  let proc;
  let log = '';

  const ready = async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const client = new pg.Client({ connectionString: url(), connectionTimeoutMillis: 1000 });
      try {
        await client.connect();
        await client.query('select 1');
        return;
      } catch (err) {
        if (proc?.exitCode !== null || Date.now() > deadline) throw new Error(`postgres did not start: ${err.message}\n${log}`);
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  };
  const start = async () => {
    log = '';
    // Through a watchdog shell: postgres ends when our end of its stdin closes — on stop(), and when this
    // worker dies without running its exit hooks (vitest kills workers), which would leave servers behind.
    // A dead parent also takes the data dir.
    proc = spawn(
      '/bin/sh',
      ['-c', WATCHDOG, 'pg-watchdog', dir, path.join(bin, 'postgres'), '-D', dir, '-p', String(port), '-k', dir,
        '-c', `listen_addresses=${['127.0.0.1', ...(opts.listen ? [opts.listen] : [])].join(',')}`, '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
        '-c', 'max_connections=300', '-c', 'shared_buffers=64MB'],
      { stdio: ['pipe', 'ignore', 'pipe'], ...who },
    );
    proc.stderr.on('data', (b) => (log = (log + b.toString()).slice(-8192)));
    await ready();
  };
  const stop = async () => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise((resolve) => {
      p.once('exit', () => resolve());
      p.stdin.end();
    });
  };
  await start();
  return {
    port,
    url,
    async createDatabase() {
      const name = `t_${randomBytes(6).toString('hex')}`;
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`create database ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop,
    start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

