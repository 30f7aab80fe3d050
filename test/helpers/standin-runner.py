#!/usr/bin/env python3
# The stand-in for GitHub's Actions runner (the real one cannot be fetched on this machine), at the
# runner's path: `run.sh --jitconfig <encoded>`. It follows the JIT flow against the fake GitHub
# (test/helpers/fake-github-actions.ts): decodes its one-use config, asks the broker for the job
# assigned to it, runs each step's shell command in _work, reports the result and exits.
import base64, json, os, subprocess, sys, time, urllib.request

def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={'content-type': 'application/json'}, method='POST')
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, (r.read() or b'{}')

args = sys.argv[1:]
if len(args) != 2 or args[0] != '--jitconfig':
    print('usage: run.sh --jitconfig <encoded>', file=sys.stderr)
    sys.exit(2)
cfg = json.loads(base64.b64decode(args[1]))
print(f"runner {cfg['name']} (id {cfg['runner_id']}) listening for jobs", flush=True)
deadline = time.time() + float(os.environ.get('STANDIN_WAIT_S', '60'))
job = None
while time.time() < deadline:
    status, body = post(cfg['broker'] + '/acquire', {'token': cfg['token']})
    if status == 200:
        job = json.loads(body)
        break
    time.sleep(0.2)
if job is None:
    print('no job assigned', file=sys.stderr)
    sys.exit(3)
print(f"running job {job['job_id']}", flush=True)
os.makedirs('_work', exist_ok=True)
log, conclusion = [], 'success'
for step in job['steps']:
    p = subprocess.run(['bash', '-c', step], cwd='_work', capture_output=True, text=True)
    log.append(p.stdout + p.stderr)
    print(p.stdout, end='', flush=True)
    if p.returncode != 0:
        conclusion = 'failure'
        break
post(cfg['broker'] + '/complete', {'token': cfg['token'], 'job_id': job['job_id'], 'conclusion': conclusion, 'log': ''.join(log)})
print(f"job {job['job_id']} {conclusion}", flush=True)
