import { describe, expect, it } from 'vitest';
import type { SandboxSpec } from '../driver.js';
import { bwrapArgs, sandboxPath, workPath } from './args.js';
import { buildChain, parseRusage } from './chain.js';

const limits = { timeout_ms: 1000, memory_mb: 64, cpu_ms: 1500, pids: 16, output_bytes: 100, disk_mb: 8, open_files: 32, cpus: 1 };
const spec = (files: SandboxSpec['files'] = []): SandboxSpec => ({ id: 's1', network: 'none', limits, files });
const req = { argv: ['/bin/echo', 'hi'], cwd: '/work', env: { A: '1' } };
const layout = { etcDir: '/d/etc', statusFd: 3, seccompFd: 9, fileFds: [] as number[] };

describe('bwrapArgs', () => {
  it('isolates by default: every namespace, no caps, non-root, read-only root, cleared env', () => {
    const a = bwrapArgs(spec(), req, layout);
    expect(a).toContain('--unshare-all');
    expect(a).toContain('--die-with-parent');
    expect(a.join(' ')).toContain('--cap-drop ALL');
    expect(a.join(' ')).toContain('--uid 10001 --gid 10001');
    expect(a.join(' ')).toContain('--seccomp 9');
    expect(a.join(' ')).toContain('--remount-ro /');
    expect(a).not.toContain('--share-net');
    // env is cleared before the job's own variables are set
    expect(a.indexOf('--clearenv')).toBeLessThan(a.indexOf('--setenv'));
    expect(a.slice(-3)).toEqual(['--', '/bin/echo', 'hi']);
  });

  it('caps /tmp and /work at disk_mb and binds no writable host path', () => {
    const a = bwrapArgs(spec(), req, layout).join(' ');
    expect(a).toContain(`--size ${8 * 1024 * 1024} --tmpfs /tmp`);
    expect(a).toContain(`--size ${8 * 1024 * 1024} --tmpfs /work`);
    expect(a).not.toMatch(/--bind /);
    expect(a).not.toMatch(/--ro-bind \/home|\/root|\/var/);
  });

  it('binds an image rootfs instead of host dirs', () => {
    const a = bwrapArgs(spec(), req, { ...layout, rootfs: '/img/rootfs' }).join(' ');
    expect(a).toContain('--ro-bind /img/rootfs /');
    expect(a).not.toContain('--ro-bind /usr /usr');
  });

  it('creates parent dirs once and copies each file from its fd with its mode', () => {
    const files = [
      { path: 'a/b/c.txt', content: Buffer.from('x') },
      { path: 'a/run.sh', content: Buffer.from('y'), mode: 0o755 },
    ];
    const a = bwrapArgs(spec(files), req, { ...layout, fileFds: [5, 6] }).join(' ');
    expect(a).toContain('--dir /work/a --dir /work/a/b');
    expect(a).toContain('--perms 0644 --file 5 /work/a/b/c.txt');
    expect(a).toContain('--perms 0755 --file 6 /work/a/run.sh');
  });

  it('refuses paths outside the work dir, but for Paddock\'s own dir in /tmp', () => {
    expect(() => workPath('../etc/passwd')).toThrow(/outside/);
    expect(workPath('/work/x')).toBe('/work/x');
    expect(sandboxPath('/tmp/.paddock/script')).toBe('/tmp/.paddock/script');
    expect(() => sandboxPath('/tmp/.paddock/../x')).toThrow(/outside/);
    expect(() => sandboxPath('/tmp/x')).toThrow(/outside/);
  });

  it('puts an internal file in /tmp/.paddock after the /tmp tmpfs', () => {
    const files = [{ path: '/tmp/.paddock/script', content: Buffer.from('echo'), mode: 0o644 }];
    const a = bwrapArgs(spec(files), req, { ...layout, fileFds: [6] });
    const s = a.join(' ');
    expect(s).toContain('--dir /tmp/.paddock --perms 0644 --file 6 /tmp/.paddock/script');
    expect(a.indexOf('/tmp/.paddock')).toBeGreaterThan(a.indexOf('/tmp'));
  });
});

describe('buildChain', () => {
  it('uses cgroups for memory and pids when it has them, rlimits otherwise', () => {
    const withCg = buildChain(['--'], { bwrap: 'bwrap', limits, cgroups: true, rusageFile: '/r' });
    expect(withCg.file).toBe('prlimit');
    expect(withCg.args).toContain('--cpu=2:3');
    expect(withCg.args.join(' ')).not.toMatch(/--as=|--nproc=/);
    const without = buildChain(['--'], { bwrap: 'bwrap', limits, cgroups: false, timeBin: '/usr/bin/time', rusageFile: '/r' });
    expect(without.file).toBe('setpriv');
    expect(without.args).toContain(`--as=${64 * 1024 * 1024}`);
    expect(without.args).toContain('--nproc=16');
  });

  it('drops to the host user when given one', () => {
    const c = buildChain([], { bwrap: 'bwrap', limits, cgroups: true, rusageFile: '/r', hostUser: { uid: 61000, gid: 61001 } });
    expect([c.uid, c.gid]).toEqual([61000, 61001]);
  });

  it('parses GNU time output', () => {
    expect(parseRusage('0.01 0.25 0.05 2048\n')).toEqual({ cpuMs: 300, maxRssKb: 2048 });
    expect(parseRusage('Command terminated by signal 9\n0.01 0.00 0.00 512')).toEqual({ cpuMs: 0, maxRssKb: 512 });
    expect(parseRusage('garbage')).toBeUndefined();
  });
});
