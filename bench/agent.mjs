// Agent jobs, per driver: how long from submit to the first model request, and what a one-turn
// job costs beyond the Claude Code CLI's own run (the exec's wall time in the sandbox), with the
// repository cache warm (a fetch) and cold (a first clone), on a runner as configured by default
// (warm pool of 2). Baseline, measured in the same run: the same CLI, prompt and one-turn model
// answer started by raw `bwrap` over the agent image's root file system, with the repository
// already on disk and the model server reached directly — no Paddock, no proxy, no checkout, no diff.
//
// Run with `npm run bench -- agent` (needs the agent image: scripts/build-images.sh; dockerd with
// runsc for docker/gvisor). Progress goes to stderr; the last stdout line is one JSON object.
//
// Env overrides: BENCH_SAMPLES (5 per driver and cache state), BENCH_DRIVERS (bwrap,docker,gvisor),
// PADDOCK_IMAGES_DIR (/var/cache/paddock/images).
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { planAgentJob } from '../dist/agents/plan.js';
import { AgentJobSpec } from '../dist/agents/spec.js';
import { intEnv, round, startRunner, summarize } from './lib.mjs';

const SAMPLES = intEnv('BENCH_SAMPLES', 5);
const DRIVERS = (process.env.BENCH_DRIVERS ?? 'bwrap,docker,gvisor').split(',').filter(Boolean);
const IMAGES_DIR = process.env.PADDOCK_IMAGES_DIR ?? '/var/cache/paddock/images';
const ROOTFS = path.join(IMAGES_DIR, 'agent', 'rootfs');
const TARGETS = { warm_overhead_median_ms_max: 1000, warm_overhead_median_ms_stretch: 300 };
const progress = (msg) => process.stderr.write(`[bench agent] ${msg}\n`);

if (!existsSync(path.join(ROOTFS, 'usr', 'local', 'bin', 'claude'))) {
  console.error(`bench agent: no agent image in ${IMAGES_DIR} (bash scripts/build-images.sh)`);
  process.exit(1);
}

// ---- a one-turn model server (the Messages API's SSE, as test/helpers/fake-anthropic.ts plays it) ----

function sse(event, data) {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function oneTurn(model) {
  const id = `msg_bench${Math.random().toString(16).slice(2, 14)}`;
  return [
    sse('message_start', {
      type: 'message_start',
      message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 100, output_tokens: 1 } },
    }),
    sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Nothing to change.' } }),
    sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 5 } }),
    sse('message_stop', { type: 'message_stop' }),
  ].join('');
}

async function startModel() {
  const posts = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST') return void res.writeHead(200, { 'content-length': 0 }).end();
      posts.push(performance.now());
      let body = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        // answered the same
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'request-id': 'req_bench' }).end(oneTurn(body.model ?? 'claude-sonnet-4-5'));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, posts, close: () => new Promise((r) => server.close(r)) };
}

// ---- repositories over dumb HTTP (a bare repo after `git update-server-info`) ----

function makeRepo(root) {
  const work = path.join(root, 'work');
  mkdirSync(path.join(work, 'src'), { recursive: true });
  // ~2 MB over 200 files: a first clone costs something a fetch does not.
  for (let i = 0; i < 200; i++) writeFileSync(path.join(work, 'src', `f${i}.txt`), `${'line of text\n'.repeat(800)}${i}\n`);
  writeFileSync(path.join(work, 'README.md'), '# bench\n');
  const git = (...args) => execFileSync('git', args, { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('-c', 'user.name=bench', '-c', 'user.email=bench@example.invalid', 'commit', '-qm', 'init');
  const bare = path.join(root, 'repos', 'base.git');
  execFileSync('git', ['clone', '-q', '--bare', work, bare]);
  execFileSync('git', ['--git-dir', bare, 'update-server-info']);
  return { work, bare };
}

async function startGitServer(root) {
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = path.join(root, 'repos', path.normalize(rel));
    if (!file.startsWith(path.join(root, 'repos') + path.sep) || !existsSync(file)) return void res.writeHead(404).end();
    try {
      const data = readFileSync(file);
      res.writeHead(200, { 'content-length': data.length }).end(data);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

// ---- the baseline: the CLI alone, in raw bwrap over the agent root file system ----

/** Wall time of the CLI alone, and from its start to its first model request. */
function cliAlone(model, repoDir) {
  const modelUrl = model.url;
  const before = model.posts.length;
  const home = mkdtempSync(path.join(os.tmpdir(), 'paddock-bench-home-'));
  execFileSync('chown', ['-R', '10001:10001', home, repoDir]);
  const argv = [
    '--unshare-all', '--share-net', '--die-with-parent', '--unshare-user', '--uid', '10001', '--gid', '10001',
    '--ro-bind', ROOTFS, '/', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp',
    '--bind', home, '/tmp/home', '--bind', repoDir, '/tmp/repo', '--chdir', '/tmp/repo',
    '--setenv', 'HOME', '/tmp/home', '--setenv', 'CLAUDE_CONFIG_DIR', '/tmp/home/.claude',
    '--setenv', 'ANTHROPIC_BASE_URL', modelUrl, '--setenv', 'ANTHROPIC_API_KEY', 'x',
    '--setenv', 'DISABLE_TELEMETRY', '1', '--setenv', 'DISABLE_ERROR_REPORTING', '1', '--setenv', 'DISABLE_AUTOUPDATER', '1',
    '--setenv', 'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC', '1', '--setenv', 'CLAUDE_CODE_MAX_RETRIES', '2', '--setenv', 'IS_SANDBOX', '1',
    '--setenv', 'PATH', '/usr/local/bin:/usr/bin:/bin',
    'claude', '-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', 'bypassPermissions', '--', 'say hi',
  ];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('bwrap', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = performance.now() - t0;
      rmSync(home, { recursive: true, force: true });
      if (code !== 0 || !out.includes('"subtype":"success"')) reject(new Error(`the CLI alone: exit ${code}: ${err.slice(-400)} ${out.slice(-400)}`));
      else resolve({ total: ms, firstRequest: model.posts[before] - t0 });
    });
  });
}

// ---- one agent job through the API ----

/** As a runner under steady use has it: a started sandbox waiting in the warm pool (pool.size, default 2). */
async function waitForPool(runner, driver, repoUrl) {
  const d = runner.rt.drivers.get(driver);
  const plan = planAgentJob(AgentJobSpec.parse({ kind: 'agent', prompt: 'say hi', repo_url: repoUrl }), runner.config);
  for (let i = 0; i < 400 && d.poolReady && (await d.poolReady(plan)) < 1; i++) await new Promise((r) => setTimeout(r, 25));
}

/**
 * One job, submit to end as the client sees it. `cli_ms` is the CLI's own run (the exec's wall
 * time in the sandbox); what is left of the total is Paddock's: checkout, sandbox, copy-in, diff.
 */
async function oneJob(runner, model, repoUrl) {
  const before = model.posts.length;
  const t0 = performance.now();
  const res = await runner.request('POST', '/v1/jobs?wait=true&wait_ms=120000', { kind: 'agent', prompt: 'say hi', repo_url: repoUrl });
  const total = performance.now() - t0;
  if (res.status !== 201 || res.body.state !== 'succeeded') throw new Error(`agent job: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 600)}`);
  const first = model.posts[before];
  if (first === undefined) throw new Error('the job made no model request');
  return { total, firstRequest: first - t0, cli: res.body.result.wall_ms };
}

const root = mkdtempSync(path.join(os.tmpdir(), 'paddock-bench-agent-'));
const model = await startModel();
const repo = makeRepo(root);
const git = await startGitServer(root);
let cold = 0;
/** A repository the cache has never seen: the same content under a new name. */
function coldRepo() {
  const name = `cold-${cold++}.git`;
  cpSync(repo.bare, path.join(root, 'repos', name), { recursive: true });
  return `${git.url}/${name}`;
}

const figures = {};
const baseline = {};
const ratios = {};
try {
  progress(`baseline: the CLI alone in raw bwrap × ${SAMPLES} (plus one warm-up)`);
  const alone = [];
  const aloneFirst = [];
  for (let i = 0; i <= SAMPLES; i++) {
    const dir = path.join(root, `alone-${i}`);
    cpSync(repo.work, dir, { recursive: true });
    const r = await cliAlone(model, dir);
    if (i > 0) alone.push(r.total), aloneFirst.push(r.firstRequest);
    rmSync(dir, { recursive: true, force: true });
  }
  baseline.cli_alone_ms = summarize(alone);
  baseline.cli_alone_start_to_first_model_request_ms = summarize(aloneFirst);
  const aloneMedian = baseline.cli_alone_ms.median;
  const aloneFirstMedian = baseline.cli_alone_start_to_first_model_request_ms.median;

  for (const driver of DRIVERS) {
    const flags = {
      images_dir: IMAGES_DIR,
      drivers: [driver],
      agents: { model_api: { base_url: model.url, api_key: 'sk-ant-bench' }, repos: { allow_http: true } },
      ...(driver === 'bwrap' ? { sandbox: { uid_range_start: 62_900, uid_range_size: 20 } } : { docker: { uid_range_start: 290_000, uid_range_size: 20 } }),
    };
    let runner;
    try {
      runner = await startRunner(flags);
    } catch (err) {
      progress(`${driver}: skipped (${err.message})`);
      continue;
    }
    try {
      const warmUrl = `${git.url}/base.git`;
      progress(`${driver}: warm-up job`);
      await oneJob(runner, model, warmUrl);
      const out = { pool_size: runner.config.pool.size };
      for (const [state, url] of [['warm', () => warmUrl], ['cold', coldRepo]]) {
        progress(`${driver}: ${state} cache × ${SAMPLES}`);
        const total = [];
        const first = [];
        const cli = [];
        const beyond = [];
        for (let i = 0; i < SAMPLES; i++) {
          const repoUrl = url();
          await waitForPool(runner, driver, repoUrl);
          const r = await oneJob(runner, model, repoUrl);
          total.push(r.total);
          first.push(r.firstRequest);
          cli.push(r.cli);
          beyond.push(r.total - r.cli);
        }
        const t = summarize(total);
        const f = summarize(first);
        out[state] = {
          submit_to_first_model_request_ms: f,
          job_ms: t,
          cli_in_sandbox_ms: summarize(cli),
          // The figure: the job's time beyond the CLI's own run in the same sandbox.
          overhead_beyond_cli_ms: summarize(beyond),
          // Against the CLI alone in raw bwrap: also counts what the driver costs the CLI (gVisor's syscalls).
          vs_cli_alone_median_ms: round(t.median - aloneMedian),
          first_request_vs_cli_alone_median_ms: round(f.median - aloneFirstMedian),
        };
        ratios[`${driver}_${state}_job_vs_cli_alone`] = round(t.median / aloneMedian);
      }
      figures[driver] = out;
    } finally {
      await runner.close();
    }
  }
} finally {
  await git.close();
  await model.close();
  rmSync(root, { recursive: true, force: true });
}

const warm = Object.entries(figures).map(([d, f]) => [d, f.warm.overhead_beyond_cli_ms.median]);
console.log(
  JSON.stringify({
    bench: 'agent',
    host: { cpus: os.cpus().length, node: process.version },
    samples: SAMPLES,
    targets: TARGETS,
    figures,
    baseline,
    ratios,
    meets: Object.fromEntries(warm.map(([d, ms]) => [`${d}_warm_overhead_le_1s`, ms <= TARGETS.warm_overhead_median_ms_max])),
  }),
);
