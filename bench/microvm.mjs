// The qemu driver (src/sandbox/qemu/): cold boot → first exec, restore from the warm-start snapshot →
// first exec, exec round trip (`true`), memory snapshot, fork → first output for a 256 MiB guest, and
// host RSS per VM — through the driver. Baseline, measured in the same run: the same QEMU command
// lines run by hand — QEMU spawned directly, the agent spoken to with raw frames over its socket, QMP
// `stop`/`blockdev-snapshot-sync`/`migrate`/`cont` sent directly — no driver, no sandbox, no session.
//
// Run with `npm run bench -- microvm` as root (needs qemu-system-x86 and the vm-kernel and base images:
// scripts/build-images.sh). Progress on stderr; the last stdout line is one JSON object.
// Env: BENCH_SAMPLES (5), BENCH_EXECS (50), PADDOCK_IMAGES_DIR (/var/cache/paddock/images).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../dist/config/load.js';
import { QemuDriver } from '../dist/sandbox/qemu/driver.js';
import { createOverlay } from '../dist/sandbox/qemu/disk.js';
import { Qmp } from '../dist/sandbox/qemu/qmp.js';
import { readSnapshotMeta } from '../dist/sandbox/qemu/snapshot.js';
import { qemuArgs } from '../dist/sandbox/qemu/vm.js';
import { createLogger } from '../dist/util/log.js';
import { intEnv, round, summarize } from './lib.mjs';

const SAMPLES = intEnv('BENCH_SAMPLES', 5);
const EXECS = intEnv('BENCH_EXECS', 50);
const IMAGES_DIR = process.env.PADDOCK_IMAGES_DIR ?? '/var/cache/paddock/images';
const TARGETS = { restore_to_first_exec_ms_max: 500, fork_to_first_output_ms_max: 300, exec_round_trip_ms_max: 20 };
const progress = (msg) => process.stderr.write(`[bench microvm] ${msg}\n`);
const ENV = { PATH: '/usr/bin:/bin' };
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'pbm-'));
const log = createLogger('silent');
const driverFor = (qemu) => new QemuDriver(loadConfig({ env: { PADDOCK_CONFIG: '' }, flags: { data_dir: dataDir, images_dir: IMAGES_DIR, log_level: 'silent', qemu } }), { log });
const limits = { ...loadConfig({ env: { PADDOCK_CONFIG: '' }, flags: { data_dir: dataDir } }).limits.default, memory_mb: 192, timeout_ms: 600_000 };
let seq = 0;
const spec = () => ({ id: `sbx_bench${seq++}`, network: 'none', files: [], limits });
const exec = (s, argv) => s.exec({ argv, cwd: '/work', env: ENV }, () => undefined, new AbortController().signal);
const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const timed = async (fn) => {
  const t = performance.now();
  const r = await fn();
  return [performance.now() - t, r];
};

// ---- Paddock: through the driver ----
const cold = driverFor({ warm_start: false });
const warm = driverFor({ warm_start: true });
const av = await warm.detect();
if (!av.available) {
  console.error(`bench microvm: the qemu driver is unavailable: ${av.reason}`);
  process.exit(1);
}
progress(`accel ${av.details.accel}`);
const paddock = { cold: [], restore: [], exec: [], snapshot: [], fork: [], rssCold: [], rssRestored: [] };
// The first warm create makes the template: not a sample.
await (await warm.create(spec())).destroy();
for (let i = 0; i < SAMPLES; i++) {
  const [c, cs] = await timed(async () => {
    const s = await cold.create(spec());
    await exec(s, ['true']);
    return s;
  });
  paddock.cold.push(c);
  paddock.rssCold.push(rssMb(cs.vm.pid));
  await cs.destroy();
  const [r, rs] = await timed(async () => {
    const s = await warm.create(spec());
    await exec(s, ['true']);
    return s;
  });
  paddock.restore.push(r);
  paddock.rssRestored.push(rssMb(rs.vm.pid));
  if (i === 0) {
    for (let k = 0; k < 5; k++) await exec(rs, ['true']);
    for (let k = 0; k < EXECS; k++) paddock.exec.push((await timed(() => exec(rs, ['true'])))[0]);
  }
  await exec(rs, ['sh', '-c', 'echo secret > /tmp/secret']);
  const snapDir = path.join(dataDir, `snap${i}`);
  mkdirSync(snapDir);
  paddock.snapshot.push((await timed(() => rs.snapshotMemory(snapDir)))[0]);
  const [f, fs] = await timed(async () => {
    const s = await warm.restore(spec(), snapDir);
    const out = await exec(s, ['cat', '/tmp/secret']);
    if (out.stdout !== 'secret\n') throw new Error(`fork saw ${JSON.stringify(out.stdout)}`);
    return s;
  });
  paddock.fork.push(f);
  await fs.destroy();
  await rs.destroy();
  rmSync(snapDir, { recursive: true });
  progress(`sample ${i + 1}/${SAMPLES}: cold ${c.toFixed(0)} ms, restore ${r.toFixed(0)} ms, fork ${f.toFixed(0)} ms`);
}
await warm.close();
await cold.close();

// ---- baseline: the same command lines by hand ----
const template = path.join(dataDir, 'qemu', 'templates', readdirSync(path.join(dataDir, 'qemu', 'templates'))[0]);
const meta = await readSnapshotMeta(template);

/** Raw agent frames: SYNC, then OPEN exec on odd streams, answered by RESULT (type 8). */
class RawAgent {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.waiters = [];
    this.next = 1;
    sock.on('data', (c) => {
      this.buf = Buffer.concat([this.buf, c]);
      while (this.buf.length >= 9) {
        const len = this.buf.readUInt32BE(0);
        if (this.buf.length < 9 + len) break;
        const frame = { stream: this.buf.readUInt32BE(4), type: this.buf[8], payload: this.buf.subarray(9, 9 + len) };
        this.buf = this.buf.subarray(9 + len);
        for (const w of [...this.waiters]) if (w.match(frame)) this.waiters.splice(this.waiters.indexOf(w), 1) && w.resolve(frame);
      }
    });
  }
  static async connect(socketPath) {
    const sock = await new Promise((resolve, reject) => {
      const s = net.connect(socketPath);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    const a = new RawAgent(sock);
    const hello = a.wait((f) => f.type === 1);
    // A nonce of its own: the agent takes a SYNC with its connection's nonce for a repeat and ignores it.
    const nonce = `raw${Math.random().toString(36).slice(2)}`;
    a.send(0, 13, { time_ms: Date.now(), nonce });
    // As the driver does (serial.ts): a restored guest may be inside a frame its old connection left.
    const resend = setInterval(() => {
      sock.write(Buffer.alloc(9 * 7283));
      a.send(0, 13, { time_ms: Date.now(), nonce });
    }, 1000);
    await hello;
    clearInterval(resend);
    return a;
  }
  send(stream, type, json) {
    const p = Buffer.from(JSON.stringify(json));
    const h = Buffer.alloc(9);
    h.writeUInt32BE(p.length, 0);
    h.writeUInt32BE(stream, 4);
    h[8] = type;
    this.sock.write(Buffer.concat([h, p]));
  }
  wait(match) {
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
  /** exec argv; resolves with stdout at RESULT. */
  async exec(argv) {
    const id = this.next;
    this.next += 2;
    let out = '';
    const data = { match: (f) => f.stream === id && f.type === 3 && ((out += f.payload.subarray(1).toString()), false), resolve: () => undefined };
    this.waiters.push(data);
    const done = this.wait((f) => f.stream === id && (f.type === 8 || f.type === 9));
    this.send(id, 2, { op: 'exec', argv, env: ENV, cwd: '/work', stdin: false });
    await done;
    this.waiters.splice(this.waiters.indexOf(data), 1);
    return out;
  }
}

async function rawVm(plan) {
  mkdirSync(plan.dir, { recursive: true });
  const child = spawn('qemu-system-x86_64', qemuArgs(plan), { stdio: ['ignore', process.env.BENCH_DEBUG ? 2 : 'ignore', process.env.BENCH_DEBUG ? 'inherit' : 'ignore'] });
  const qmp = await Qmp.connect(path.join(plan.dir, 'qmp.sock'));
  return { child, qmp, kill: () => child.kill('SIGKILL') };
}

const raw = { cold: [], restore: [], exec: [], snapshot: [], fork: [], rssCold: [], rssRestored: [] };
const base = meta.plan;
const rootDisk = readdirSync(path.join(IMAGES_DIR, 'base')).find((n) => n.startsWith('vm-root-'));
for (let i = 0; i < SAMPLES; i++) {
  const dir = path.join(dataDir, `raw${i}`);
  const disk = path.join(dir, 'disk.qcow2');
  mkdirSync(dir, { recursive: true });
  // Cold: the driver's own command line, spawned by hand.
  let t = performance.now();
  await createOverlay(path.join(IMAGES_DIR, 'base', rootDisk), disk);
  let vm = await rawVm({ ...base, dir, disk });
  let agent = await RawAgent.connect(path.join(dir, 'agent.sock'));
  await agent.exec(['true']);
  raw.cold.push(performance.now() - t);
  raw.rssCold.push(rssMb(vm.child.pid));
  vm.kill();
  rmSync(dir, { recursive: true, force: true });
  // Restore: the template's memory, -incoming, cont.
  mkdirSync(dir, { recursive: true });
  t = performance.now();
  await createOverlay(meta.disk, disk, 'qcow2');
  vm = await rawVm({ ...base, dir, disk, incoming: `exec:cat ${path.join(template, 'memory')}` });
  for (;;) {
    const s = await vm.qmp.execute('query-status');
    if (s.status === 'paused') await vm.qmp.execute('cont');
    else if (s.status === 'running') break;
    else await new Promise((r) => setTimeout(r, 3));
  }
  agent = await RawAgent.connect(path.join(dir, 'agent.sock'));
  await agent.exec(['true']);
  raw.restore.push(performance.now() - t);
  raw.rssRestored.push(rssMb(vm.child.pid));
  if (i === 0) {
    for (let k = 0; k < 5; k++) await agent.exec(['true']);
    for (let k = 0; k < EXECS; k++) raw.exec.push((await timed(() => agent.exec(['true'])))[0]);
  }
  await agent.exec(['sh', '-c', 'echo secret > /tmp/secret']);
  // Snapshot: the QMP sequence.
  const snap = path.join(dataDir, `rawsnap${i}`);
  mkdirSync(snap);
  t = performance.now();
  await vm.qmp.execute('stop');
  await vm.qmp.execute('blockdev-snapshot-sync', { device: 'root', 'snapshot-file': path.join(dir, 'top.qcow2'), format: 'qcow2' });
  await vm.qmp.execute('migrate-set-parameters', { 'max-bandwidth': 10 * 1024 ** 3 });
  await vm.qmp.execute('migrate', { uri: `exec:cat > ${snap}/memory` });
  for (;;) {
    const m = await vm.qmp.execute('query-migrate');
    if (m.status === 'completed') break;
    if (m.status === 'failed') throw new Error(`raw migrate failed: ${m['error-desc']}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  await vm.qmp.execute('cont');
  raw.snapshot.push(performance.now() - t);
  // Fork: the same command line, a new overlay on the frozen layer, -incoming.
  const fdir = path.join(dataDir, `rawfork${i}`);
  mkdirSync(fdir);
  t = performance.now();
  await createOverlay(disk, path.join(fdir, 'disk.qcow2'), 'qcow2');
  const fvm = await rawVm({ ...base, dir: fdir, disk: path.join(fdir, 'disk.qcow2'), incoming: `exec:cat ${snap}/memory` });
  for (;;) {
    const s = await fvm.qmp.execute('query-status');
    if (s.status === 'paused') await fvm.qmp.execute('cont');
    else if (s.status === 'running') break;
    else await new Promise((r) => setTimeout(r, 3));
  }
  const fagent = await RawAgent.connect(path.join(fdir, 'agent.sock'));
  const seen = await fagent.exec(['cat', '/tmp/secret']);
  raw.fork.push(performance.now() - t);
  if (seen !== 'secret\n') throw new Error(`raw fork saw ${JSON.stringify(seen)}`);
  fvm.kill();
  vm.kill();
  progress(`raw sample ${i + 1}/${SAMPLES}`);
}
await new Promise((r) => setTimeout(r, 300));
rmSync(dataDir, { recursive: true, force: true });

const med = (xs) => summarize(xs).median;
const figures = {
  accel: av.details.accel.split(' ')[0],
  cold_boot_to_first_exec_ms: summarize(paddock.cold),
  restore_to_first_exec_ms: summarize(paddock.restore),
  exec_round_trip_ms: summarize(paddock.exec),
  snapshot_ms: summarize(paddock.snapshot),
  fork_to_first_output_ms: summarize(paddock.fork),
  host_rss_mb_per_vm: { cold: round(med(paddock.rssCold), 1), restored: round(med(paddock.rssRestored), 1), guest_mb: base.memoryMb },
  targets: TARGETS,
};
const baseline = {
  what: 'the same QEMU command lines by hand: QEMU spawned directly, raw agent frames, raw QMP',
  cold_boot_to_first_exec_ms: summarize(raw.cold),
  restore_to_first_exec_ms: summarize(raw.restore),
  exec_round_trip_ms: summarize(raw.exec),
  snapshot_ms: summarize(raw.snapshot),
  fork_to_first_output_ms: summarize(raw.fork),
  host_rss_mb_per_vm: { cold: round(med(raw.rssCold), 1), restored: round(med(raw.rssRestored), 1) },
};
const ratio = (k) => round(figures[k].median / baseline[k].median, 2);
console.log(
  JSON.stringify({
    bench: 'microvm',
    figures,
    baseline,
    ratios: {
      cold_boot_to_first_exec: ratio('cold_boot_to_first_exec_ms'),
      restore_to_first_exec: ratio('restore_to_first_exec_ms'),
      exec_round_trip: ratio('exec_round_trip_ms'),
      snapshot: ratio('snapshot_ms'),
      fork_to_first_output: ratio('fork_to_first_output_ms'),
      restore_vs_cold_boot: round(figures.restore_to_first_exec_ms.median / figures.cold_boot_to_first_exec_ms.median, 2),
    },
  }),
);
