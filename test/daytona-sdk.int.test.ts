import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {
  Daytona,
  DaytonaAuthenticationError,
  DaytonaCommandAlreadyCompletedError,
  DaytonaConflictError,
  DaytonaFileNotFoundError,
  DaytonaForbiddenError,
  DaytonaNotFoundError,
  DaytonaProcessExecutionTimeoutError,
  DaytonaUnprocessableEntityError,
  DaytonaValidationError,
  Image,
  type Sandbox,
} from '@daytonaio/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGES_DIR } from './helpers/agent-env.js';
import { dockerMissing } from './helpers/docker.js';
import { type ServerProcess, startServerProcess, stopServerProcess } from './helpers/server-process.js';

// The real @daytonaio/sdk against a real `paddock serve` (src/server/compat/daytona/), on every driver:
// one server per driver, two sandboxes per server reused across the tests.
const CI = process.env.CI === 'true';
/** One Daytona "minute" is this many ms here (daytona.minute_ms, a key only tests change). */
const MINUTE_MS = 1000;
/** sandboxes.max_upload_bytes here: the 3 MiB upload fits, a larger one is refused. */
const MAX_UPLOAD = 6 * 1024 * 1024;

interface DriverCase {
  driver: 'bwrap' | 'docker' | 'gvisor';
  missing: string | undefined;
  env: Record<string, string>;
}

/** Known when the tests are collected: locally a missing prerequisite skips them, under CI=true it fails them. */
const noDocker = await dockerMissing();

const dockerEnv = (driver: 'docker' | 'gvisor', uid: number) => ({
  PADDOCK_DRIVERS: driver,
  PADDOCK_DOCKER__UID_RANGE_START: String(uid),
  PADDOCK_DOCKER__UID_RANGE_SIZE: '40',
});

const CASES: DriverCase[] = [
  {
    driver: 'bwrap',
    missing: undefined,
    env: { PADDOCK_DRIVERS: 'bwrap', PADDOCK_SANDBOX__UID_RANGE_START: '420000', PADDOCK_SANDBOX__UID_RANGE_SIZE: '64' },
  },
  { driver: 'docker', missing: noDocker, env: dockerEnv('docker', 430_000) },
  { driver: 'gvisor', missing: noDocker, env: dockerEnv('gvisor', 430_040) },
];

const caught = async (p: Promise<unknown>): Promise<Error> => {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
};

/** An Upgrade to the SDK's event socket path: the status and how long the answer took. */
function socketIoProbe(url: string): Promise<{ status: number; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/daytona/api/socket.io/?EIO=4&transport=websocket`, {
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
      timeout: 5000,
    });
    req.once('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, ms: Date.now() - t0 });
    });
    req.once('upgrade', () => reject(new Error('the socket.io path was upgraded')));
    req.once('timeout', () => req.destroy(new Error('no answer in 5 s')));
    req.once('error', reject);
    req.end();
  });
}

for (const c of CASES) {
  describe(`Daytona SDK on Paddock (${c.driver})`, () => {
    let dataDir: string;
    let server: ServerProcess;
    let daytona: Daytona;
    let sandbox: Sandbox;

    beforeAll(async () => {
      if (c.missing) throw new Error(c.missing);
      dataDir = mkdtempSync(path.join(os.tmpdir(), `paddock-daytona-${c.driver}-`));
      server = await startServerProcess(dataDir, {
        ...c.env,
        PADDOCK_IMAGES_DIR: IMAGES_DIR,
        PADDOCK_DAYTONA__MINUTE_MS: String(MINUTE_MS),
        PADDOCK_SANDBOXES__SWEEP_MS: '200',
        PADDOCK_SANDBOXES__MAX_UPLOAD_BYTES: String(MAX_UPLOAD),
      });
      const apiKey = readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
      daytona = new Daytona({ apiUrl: `${server.url}/daytona/api`, apiKey, target: 'local' });
      sandbox = await daytona.create({ name: `main-${c.driver}`, envVars: { GREETING: 'hello from env' }, labels: { suite: 'daytona' } });
    }, 120_000);
    if (c.missing && !CI) return void it.skip(`needs: ${c.missing}`);

    afterAll(async () => {
      await daytona?.[Symbol.asyncDispose]();
      if (server) await stopServerProcess(server, 'SIGTERM');
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    }, 60_000);

    it('creates a started sandbox that get, get by name and list find', async () => {
      expect(sandbox.state).toBe('started');
      expect(sandbox.id).toMatch(/^sbx_/);
      expect(sandbox.name).toBe(`main-${c.driver}`);
      expect(sandbox.toolboxProxyUrl).toBe(`${server.url}/daytona/toolbox`);
      expect(sandbox.labels).toMatchObject({ suite: 'daytona', 'code-toolbox-language': 'python' });
      // Env values are not echoed (they may be secrets); inside the sandbox they are set (executeCommand test).
      expect(sandbox.env).toEqual({});
      expect((await daytona.get(sandbox.id)).name).toBe(sandbox.name);
      expect((await daytona.get(sandbox.name)).id).toBe(sandbox.id);
      const listed: string[] = [];
      for await (const s of daytona.list({ labels: { suite: 'daytona' } })) listed.push(s.id);
      expect(listed).toEqual([sandbox.id]);
      expect(await caught(daytona.create({ name: sandbox.name }))).toBeInstanceOf(DaytonaConflictError);
    });

    it('executeCommand: output, exit codes, env and cwd', async () => {
      expect(await sandbox.process.executeCommand('echo hi')).toMatchObject({ exitCode: 0, result: 'hi\n' });
      const failed = await sandbox.process.executeCommand('echo out; echo oops >&2; exit 3');
      expect(failed.exitCode).toBe(3);
      expect(failed.result).toBe('out\noops\n');
      expect((await sandbox.process.executeCommand('echo "$GREETING/$EXTRA"', undefined, { EXTRA: 'x' })).result).toBe('hello from env/x\n');
      await sandbox.fs.createFolder('/work/sub', '755');
      expect((await sandbox.process.executeCommand('pwd', '/work/sub')).result).toBe('/work/sub\n');
      expect((await sandbox.process.executeCommand('pwd', 'sub')).result).toBe('/work/sub\n');
      expect(await sandbox.getWorkDir()).toBe('/work');
      const slow = await caught(sandbox.process.executeCommand('sleep 30', undefined, undefined, 1));
      expect(slow).toBeInstanceOf(DaytonaProcessExecutionTimeoutError);
    });

    it('session commands: sync, async with output streamed over the WebSocket as it comes, logs after', async () => {
      await sandbox.process.createSession('s1');
      const sync = await sandbox.process.executeSessionCommand('s1', { command: 'echo sync; echo warn >&2; exit 4' });
      expect(sync).toMatchObject({ exitCode: 4, stdout: 'sync\n', stderr: 'warn\n' });
      // As in Daytona's session shell: the directory and exported variables carry to the next command.
      await sandbox.process.executeSessionCommand('s1', { command: "mkdir -p '/work/a b' && cd '/work/a b' && export SEEN=\"it's here\"; exit 1" });
      expect(await sandbox.process.executeSessionCommand('s1', { command: 'pwd; echo "$SEEN"' })).toMatchObject({ exitCode: 0, stdout: "/work/a b\nit's here\n" });
      await sandbox.process.createSession('s2');
      expect((await sandbox.process.executeSessionCommand('s2', { command: 'pwd; echo "[$SEEN]"' })).stdout).toBe('/work\n[]\n');
      await sandbox.process.deleteSession('s2');
      await sandbox.process.createSession('s2');
      expect((await sandbox.process.executeSessionCommand('s2', { command: 'cd /tmp' })).exitCode).toBe(0);
      await sandbox.process.deleteSession('s2');
      await sandbox.process.createSession('s2');
      // Made again under the same id: a fresh session, not the old one's directory.
      expect((await sandbox.process.executeSessionCommand('s2', { command: 'pwd' })).stdout).toBe('/work\n');
      await sandbox.process.deleteSession('s2');

      const started = await sandbox.process.executeSessionCommand('s1', {
        command: 'for i in 1 2 3 4; do echo line$i; sleep 0.4; done; echo done >&2',
        runAsync: true,
      });
      expect(started.cmdId).toBeTruthy();
      const t0 = Date.now();
      const chunks: { stream: string; text: string; at: number }[] = [];
      await sandbox.process.getSessionCommandLogs(
        's1',
        started.cmdId!,
        (text) => chunks.push({ stream: 'stdout', text, at: Date.now() - t0 }),
        (text) => chunks.push({ stream: 'stderr', text, at: Date.now() - t0 }),
      );
      const end = Date.now() - t0;
      const stdout = chunks.filter((x) => x.stream === 'stdout').map((x) => x.text).join('');
      expect(stdout).toBe('line1\nline2\nline3\nline4\n');
      expect(chunks.filter((x) => x.stream === 'stderr').map((x) => x.text).join('')).toBe('done\n');
      // Streamed, not sent at the end: the first line came well before the command's end.
      expect(chunks[0]!.at).toBeLessThan(end - 1000);
      expect(await sandbox.process.getSessionCommand('s1', started.cmdId!)).toMatchObject({ id: started.cmdId, exitCode: 0 });
      expect(await sandbox.process.getSessionCommandLogs('s1', started.cmdId!)).toEqual({ output: `${stdout}done\n`, stdout, stderr: 'done\n' });
      // An async command reads what sendSessionCommandInput writes to its stdin.
      const reader = await sandbox.process.executeSessionCommand('s1', { command: 'read a; read b; echo "got $a+$b"', runAsync: true });
      await sandbox.process.sendSessionCommandInput('s1', reader.cmdId!, 'one\n');
      await sandbox.process.sendSessionCommandInput('s1', reader.cmdId!, 'two\n');
      let got = await sandbox.process.getSessionCommand('s1', reader.cmdId!);
      for (let i = 0; got.exitCode === undefined && i < 50; i++) {
        await new Promise((r) => setTimeout(r, 100));
        got = await sandbox.process.getSessionCommand('s1', reader.cmdId!);
      }
      expect(got.exitCode).toBe(0);
      expect((await sandbox.process.getSessionCommandLogs('s1', reader.cmdId!)).stdout).toBe('got one+two\n');
      expect(await caught(sandbox.process.sendSessionCommandInput('s1', reader.cmdId!, 'late\n'))).toBeInstanceOf(DaytonaCommandAlreadyCompletedError);
      expect((await sandbox.process.listSessions()).map((s) => s.sessionId)).toEqual(['s1']);
      await sandbox.process.deleteSession('s1');
      expect(await caught(sandbox.process.getSession('s1'))).toBeInstanceOf(DaytonaNotFoundError);
    });

    it('files: upload, download, list, details, delete; a missing file is DaytonaFileNotFoundError', async () => {
      const big = Buffer.alloc(3 * 1024 * 1024 + 7, 'z');
      await sandbox.fs.uploadFiles([
        { source: Buffer.from('first file'), destination: '/work/up/a.txt' },
        { source: big, destination: 'up/big.bin' },
      ]);
      expect((await sandbox.fs.downloadFile('/work/up/a.txt')).toString()).toBe('first file');
      expect((await sandbox.fs.downloadFile('up/big.bin')).equals(big)).toBe(true);
      const listed = await sandbox.fs.listFiles('/work/up');
      expect(listed.map((f) => f.name).sort()).toEqual(['a.txt', 'big.bin']);
      expect(await sandbox.fs.getFileDetails('/work/up')).toMatchObject({ name: 'up', isDir: true });
      expect(await sandbox.fs.getFileDetails('/work/up/big.bin')).toMatchObject({ isDir: false, size: big.length });
      const both = await sandbox.fs.downloadFiles([{ source: '/work/up/a.txt' }, { source: '/work/up/none.txt' }]);
      expect(both[0]!.result?.toString()).toBe('first file');
      expect(both[1]!.error).toMatch(/no such file/);
      await sandbox.fs.moveFiles('/work/up/a.txt', '/work/up/moved.txt');
      expect((await sandbox.fs.downloadFile('/work/up/moved.txt')).toString()).toBe('first file');
      await sandbox.fs.deleteFile('/work/up/moved.txt');
      expect(await caught(sandbox.fs.downloadFile('/work/up/a.txt'))).toBeInstanceOf(DaytonaFileNotFoundError);
      expect(await caught(sandbox.fs.downloadFile('/work/up/moved.txt'))).toBeInstanceOf(DaytonaFileNotFoundError);
      expect(await caught(sandbox.fs.getFileDetails('/work/nowhere'))).toBeInstanceOf(DaytonaFileNotFoundError);
    });

    it('stop pauses and start resumes; autostop ends an idle sandbox; delete twice is DaytonaNotFoundError', async () => {
      const other = await daytona.create({ snapshot: 'python', autoStopInterval: 0, resources: { cpu: 1, memory: 1, disk: 1 } });
      expect(other).toMatchObject({ cpu: 1, memory: 1, disk: 1, autoStopInterval: 0 });
      expect((await other.process.executeCommand('python3 -c "print(6*7)"')).result).toBe('42\n');
      // codeRun in the sandbox's language (python, the SDK's default), with argv and env.
      const ran = await other.process.codeRun('import os, sys\nprint(sys.argv[1:], os.environ["K"])\nsys.exit(2)', { argv: ['a', 'b c'], env: { K: 'v' } });
      expect(ran).toMatchObject({ exitCode: 2, result: "['a', 'b c'] v\n" });
      // `base` has no python3: the shell's 127, not a runner error.
      expect((await sandbox.process.codeRun('print(1)')).exitCode).toBe(127);
      await other.stop();
      expect(other.state).toBe('stopped');
      expect(await caught(other.process.executeCommand('true'))).toBeInstanceOf(DaytonaConflictError);
      await other.start();
      expect(other.state).toBe('started');
      expect((await other.process.executeCommand('echo back')).result).toBe('back\n');
      // Two "minutes" of inactivity (MINUTE_MS each), then the sweeper ends it.
      await other.setAutostopInterval(2);
      const t0 = Date.now();
      let state = other.state;
      while (state !== 'destroyed' && Date.now() - t0 < 15_000) {
        await new Promise((r) => setTimeout(r, 250));
        state = (await daytona.get(other.id)).state;
      }
      expect(state).toBe('destroyed');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(2 * MINUTE_MS - 300);
      await daytona.delete(other);
      expect(await caught(daytona.delete(other))).toBeInstanceOf(DaytonaNotFoundError);
      expect(await caught(daytona.get(other.id))).toBeInstanceOf(DaytonaNotFoundError);
    }, 60_000);

    it('refusals in the SDK’s own classes: bad key, unknown sandbox, unknown image, beyond the caps, not supported', async () => {
      const bad = new Daytona({ apiUrl: `${server.url}/daytona/api`, apiKey: 'pdk_nope', target: 'local' });
      try {
        expect(await caught(bad.get(sandbox.id))).toBeInstanceOf(DaytonaAuthenticationError);
      } finally {
        await bad[Symbol.asyncDispose]();
      }
      expect(await caught(daytona.get('sbx_doesnotexist'))).toBeInstanceOf(DaytonaNotFoundError);
      expect(await caught(daytona.get('no-such-name'))).toBeInstanceOf(DaytonaNotFoundError);
      const unknown = await caught(daytona.create({ snapshot: 'no-such-image' }));
      expect(unknown).toBeInstanceOf(DaytonaNotFoundError);
      expect(unknown.message).toMatch(/no-such-image/);
      expect(await caught(daytona.create({ image: Image.base('python:3.12').pipInstall(['numpy']) }))).toBeInstanceOf(DaytonaUnprocessableEntityError);
      expect(await caught(daytona.create({ resources: { cpu: 100_000 } }))).toBeInstanceOf(DaytonaValidationError);
      expect(await caught(daytona.create({ labels: { 'bad key!': 'v' } }))).toBeInstanceOf(DaytonaValidationError);
      expect(await caught(daytona.snapshot.get('python'))).toBeInstanceOf(DaytonaUnprocessableEntityError);
      expect(await caught(daytona.volume.list())).toBeInstanceOf(DaytonaUnprocessableEntityError);
      expect(await caught(sandbox.setLabels({ a: 'b' }))).toBeInstanceOf(DaytonaUnprocessableEntityError);
      const git = await caught(sandbox.git.status('/work'));
      expect(git).toBeInstanceOf(DaytonaUnprocessableEntityError);
      expect(git.message).toMatch(/not supported on this runner/);
    });

    it("fork and createSnapshot keep the sandbox's files (not its memory); create({snapshot}) starts from a named snapshot", async () => {
      await sandbox.fs.uploadFile(Buffer.from('state 1\n'), '/work/state.txt');
      const fork = await sandbox.fork({ name: `fork-${c.driver}` });
      expect(fork.state).toBe('started');
      expect(fork.name).toBe(`fork-${c.driver}`);
      expect(fork.id).not.toBe(sandbox.id);
      expect(fork.labels).toMatchObject({ suite: 'daytona' });
      expect((await fork.process.executeCommand('cat /work/state.txt; echo "$GREETING"')).result).toBe('state 1\nhello from env\n');
      await fork.fs.uploadFile(Buffer.from('fork\n'), '/work/state.txt');
      expect((await sandbox.fs.downloadFile('/work/state.txt')).toString()).toBe('state 1\n');
      expect(await caught(sandbox.fork({ name: `fork-${c.driver}` }))).toBeInstanceOf(DaytonaConflictError);

      await sandbox.createSnapshot(`snap-${c.driver}`);
      expect(await caught(sandbox.createSnapshot(`snap-${c.driver}`))).toBeInstanceOf(DaytonaConflictError);
      await sandbox.fs.uploadFile(Buffer.from('state 2\n'), '/work/state.txt');
      const fromSnap = await daytona.create({ snapshot: `snap-${c.driver}`, name: `from-snap-${c.driver}` });
      expect((await fromSnap.process.executeCommand('cat /work/state.txt')).result).toBe('state 1\n');
      expect(await caught(daytona.get(`snap-${c.driver}`))).toBeInstanceOf(DaytonaNotFoundError);
      await daytona.delete(fork);
      await daytona.delete(fromSnap);
    }, 120_000);

    it('tenancy as on the native API: another token sees none of these sandboxes; a read-only token cannot create', async () => {
      const token = (scopes: string) =>
        execFileSync(process.execPath, ['dist/cli/main.js', 'token', 'create', '--name', scopes, '--scopes', scopes, '--data-dir', dataDir], {
          encoding: 'utf8',
        }).trim().split('\n').at(-1)!;
      const other = new Daytona({ apiUrl: `${server.url}/daytona/api`, apiKey: token('sandboxes:read,sandboxes:write'), target: 'local' });
      const reader = new Daytona({ apiUrl: `${server.url}/daytona/api`, apiKey: token('sandboxes:read'), target: 'local' });
      try {
        expect(await caught(other.get(sandbox.id))).toBeInstanceOf(DaytonaNotFoundError);
        expect(await caught(other.get(sandbox.name))).toBeInstanceOf(DaytonaNotFoundError);
        const seen: string[] = [];
        for await (const s of other.list()) seen.push(s.id);
        expect(seen).toEqual([]);
        expect(await caught(reader.create())).toBeInstanceOf(DaytonaForbiddenError);
        // The toolbox checks the same: another token's key does not reach into this sandbox.
        const res = await fetch(`${server.url}/daytona/toolbox/${sandbox.id}/process/execute`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token('sandboxes:write')}`, 'content-type': 'application/json' },
          body: JSON.stringify({ command: 'echo no' }),
        });
        expect(res.status).toBe(404);
        expect(await res.json()).toMatchObject({ statusCode: 404, source: 'DAYTONA_DAEMON' });
      } finally {
        await other[Symbol.asyncDispose]();
        await reader[Symbol.asyncDispose]();
      }
    });

    it('hostile toolbox input is refused in Daytona’s shape, and the sandbox still answers', async () => {
      const apiKey = readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
      const at = (p: string) => `${server.url}/daytona/toolbox/${sandbox.id}${p}`;
      const auth = { authorization: `Bearer ${apiKey}` };
      const upload = (body: string, type = 'multipart/form-data; boundary=b') =>
        fetch(at('/files/bulk-upload'), { method: 'POST', headers: { ...auth, 'content-type': type }, body });
      for (const res of [
        await upload('--b\r\nContent-Disposition: form-data; name="files[0].file"; filename="/work/x"\r\n\r\nno end'),
        await upload('--b\r\nContent-Disposition: form-data; name="files[0].path"\r\n\r\n/work/\u0000x\r\n--b--\r\n'),
        await fetch(at('/files/download?path=%2Fwork%2F%00'), { headers: auth }),
        await fetch(at('/process/execute'), { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"command": 1}' }),
      ]) {
        expect(res.status).toBe(400);
        expect(await res.json()).toMatchObject({ statusCode: 400, source: 'DAYTONA_DAEMON' });
      }
      expect((await upload('x', 'text/plain')).status).toBe(415);
      const tooBig = (await caught(sandbox.fs.uploadFile(Buffer.alloc(MAX_UPLOAD + 1024), '/work/too-big.bin'))) as Error & { statusCode?: number };
      expect(tooBig.statusCode).toBe(413);
      expect(await caught(sandbox.fs.getFileDetails('/work/too-big.bin'))).toBeInstanceOf(DaytonaFileNotFoundError);
      expect(await caught(sandbox.fs.downloadFile('/work/x'))).toBeInstanceOf(DaytonaFileNotFoundError);
      expect((await sandbox.process.executeCommand('echo still here')).result).toBe('still here\n');
    });

    it('the SDK’s event socket path is refused at once (404), so nothing waits on it', async () => {
      const probe = await socketIoProbe(server.url);
      expect(probe.status).toBe(404);
      expect(probe.ms).toBeLessThan(2000);
    });
  });
}
