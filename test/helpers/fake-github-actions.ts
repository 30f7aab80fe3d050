import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

// GitHub's Actions REST API for runners and workflow jobs, as documented (shapes and errors), for
// the Actions tests; plus the one thing GitHub does not document, the broker a runner takes its
// job from, in a form of this fake's own that the stand-in runner (test/helpers/standin-runner.py)
// speaks: POST /_broker/acquire {token} → 200 {job_id, steps} | 204, POST /_broker/complete
// {token, job_id, conclusion, log}.

export interface FakeJob {
  id: number;
  run_id: number;
  repo: string;
  labels: string[];
  steps: string[];
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: string | null;
  runner_name: string | null;
  log: string;
}

export interface FakeRunner {
  id: number;
  name: string;
  repo: string;
  labels: string[];
  groupId: number;
  token: string;
  busy: boolean;
}

export interface FakeActions {
  url: string;
  jobs: Map<number, FakeJob>;
  runners: Map<number, FakeRunner>;
  /** Every runner ever registered (by name), removed ones too. */
  registered: string[];
  /** generate-jitconfig answers this (status, message) instead, once per entry. */
  jitFaults: [number, string][];
  queue(repo: string, labels: string[], steps: string[]): FakeJob;
  /** The `workflow_job` delivery GitHub would send for a job now. */
  delivery(job: FakeJob, action: string): Record<string, unknown>;
  close(): Promise<void>;
}

const wire = (j: FakeJob) => ({
  id: j.id, run_id: j.run_id, run_attempt: 1, status: j.status, conclusion: j.conclusion, name: `job ${j.id}`,
  labels: j.labels, runner_id: null, runner_name: j.runner_name, steps: [],
});

export async function startFakeActions(): Promise<FakeActions> {
  const jobs = new Map<number, FakeJob>();
  const runners = new Map<number, FakeRunner>();
  const registered: string[] = [];
  const jitFaults: [number, string][] = [];
  let nextJob = 1000;
  let nextRunner = 1;
  const send = (res: http.ServerResponse, status: number, body?: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'x-ratelimit-remaining': '4999', 'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 3600) });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };
  const error = (res: http.ServerResponse, status: number, message: string) => send(res, status, { message, documentation_url: 'https://docs.github.com/rest/actions/self-hosted-runners' });

  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      const [path, query = ''] = req.url!.split('?');
      const q = new URLSearchParams(query);
      const seg = path!.split('/').filter(Boolean);
      const m = req.method;
      // /repos/{o}/{r}/actions/...
      if (seg[0] === 'repos' && seg[3] === 'actions') {
        const repo = `${seg[1]}/${seg[2]}`;
        const rest = seg.slice(4);
        if (m === 'POST' && rest.join('/') === 'runners/generate-jitconfig') {
          const fault = jitFaults.shift();
          if (fault) return error(res, fault[0], fault[1]);
          const { name, runner_group_id: group, labels } = body as { name?: unknown; runner_group_id?: unknown; labels?: unknown };
          if (typeof group !== 'number') return error(res, 422, 'Invalid input: object is missing required key: runner_group_id');
          if (typeof name !== 'string' || !Array.isArray(labels) || labels.length < 1) return error(res, 422, 'Invalid request.');
          if (group !== 1) return error(res, 404, 'Not Found');
          if ([...runners.values()].some((r) => r.name === name)) return error(res, 409, `Already exists - A runner with the name ${name} already exists.`);
          const runner: FakeRunner = { id: nextRunner++, name, repo, labels: labels as string[], groupId: group, token: randomBytes(16).toString('hex'), busy: false };
          runners.set(runner.id, runner);
          registered.push(name);
          const encoded = Buffer.from(JSON.stringify({ runner_id: runner.id, name, broker: `${url}/_broker`, token: runner.token })).toString('base64');
          return send(res, 201, {
            runner: { id: runner.id, name, os: 'Linux', status: 'offline', busy: false, labels: runner.labels.map((l, i) => ({ id: i + 1, name: l, type: 'custom' })) },
            encoded_jit_config: encoded,
          });
        }
        if (m === 'GET' && rest[0] === 'runners' && rest.length === 2) {
          const runner = runners.get(Number(rest[1]));
          if (!runner) return error(res, 404, 'Not Found');
          return send(res, 200, { id: runner.id, name: runner.name, os: 'Linux', status: 'online', busy: runner.busy, labels: [] });
        }
        if (m === 'DELETE' && rest[0] === 'runners' && rest.length === 2) {
          return runners.delete(Number(rest[1])) ? send(res, 204) : error(res, 404, 'Not Found');
        }
        if (m === 'GET' && rest.length === 1 && rest[0] === 'runs') {
          const status = q.get('status');
          const runs = [...new Set([...jobs.values()].filter((j) => j.repo === repo && (status === 'queued' ? j.status === 'queued' : j.status === 'in_progress')).map((j) => j.run_id))];
          return send(res, 200, { total_count: runs.length, workflow_runs: runs.map((id) => ({ id, status })) });
        }
        if (m === 'GET' && rest[0] === 'runs' && rest[2] === 'jobs' && rest.length === 3) {
          const list = [...jobs.values()].filter((j) => j.repo === repo && j.run_id === Number(rest[1]));
          return send(res, 200, { total_count: list.length, jobs: list.map(wire) });
        }
      }
      if (m === 'POST' && seg[0] === '_broker') {
        const runner = [...runners.values()].find((r) => r.token === body.token);
        if (!runner) return error(res, 401, 'Bad credentials');
        if (seg[1] === 'acquire') {
          const lower = new Set(runner.labels.map((l) => l.toLowerCase()));
          const job = [...jobs.values()].find((j) => j.status === 'queued' && j.repo === runner.repo && j.labels.every((l) => lower.has(l.toLowerCase())));
          if (!job) return send(res, 204);
          Object.assign(job, { status: 'in_progress', runner_name: runner.name });
          runner.busy = true;
          return send(res, 200, { job_id: job.id, steps: job.steps });
        }
        if (seg[1] === 'complete') {
          const job = jobs.get(Number(body.job_id));
          if (!job || job.runner_name !== runner.name) return error(res, 404, 'Not Found');
          Object.assign(job, { status: 'completed', conclusion: String(body.conclusion), log: String(body.log ?? '') });
          // Ephemeral: GitHub removes the runner after its one job.
          runners.delete(runner.id);
          return send(res, 200, {});
        }
      }
      return error(res, 404, 'Not Found');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    jobs,
    runners,
    registered,
    jitFaults,
    queue(repo, labels, steps) {
      const id = nextJob++;
      const job: FakeJob = { id, run_id: id * 10, repo, labels, steps, status: 'queued', conclusion: null, runner_name: null, log: '' };
      jobs.set(id, job);
      return job;
    },
    delivery(job, action) {
      const [owner, name] = job.repo.split('/');
      return { action, workflow_job: wire(job), repository: { full_name: job.repo, name, owner: { login: owner } }, sender: { login: 'octocat' } };
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}
