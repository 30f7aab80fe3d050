import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bwrapArgs, sandboxPath, workPath } from './args.js';
import { AGENT_FDS, agentLimits, buildChain, execRlimits } from './chain.js';

const limits = { timeout_ms: 1000, memory_mb: 64, cpu_ms: 1500, pids: 16, output_bytes: 100, disk_mb: 8, open_files: 32, cpus: 1 };
const layout = { etcDir: '/d/etc', agentPath: '/opt/paddock-agent', statusFd: 3, seccompFd: 9, marker: { name: 'M', value: 'box-1' } };
const tmp = mkdtempSync(path.join(os.tmpdir(), 'paddock-args-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('bwrapArgs', () => {
  it('isolates by default: every namespace, no caps, non-root, read-only root, cleared env; the agent is PID 1', () => {
    const a = bwrapArgs(limits, layout);
    expect(a).toContain('--unshare-all');
    expect(a).toContain('--die-with-parent');
    expect(a).toContain('--as-pid-1');
    expect(a.join(' ')).toContain('--cap-drop ALL');
    expect(a.join(' ')).toContain('--uid 10001 --gid 10001');
    expect(a.join(' ')).toContain('--seccomp 9');
    expect(a.join(' ')).toContain('--remount-ro /');
    expect(a.join(' ')).toContain('--ro-bind /opt/paddock-agent /.paddock/agent');
    expect(a).not.toContain('--share-net');
    // The agent's env is cleared but for the marker, and it is the only command.
    expect(a.join(' ')).toContain('--clearenv --setenv M box-1 --chdir /work -- /.paddock/agent');
    expect(a.at(-1)).toBe('/.paddock/agent');
    expect(bwrapArgs(limits, { ...layout, agentArgs: ['--limits=core=0'] }).slice(-2)).toEqual(['/.paddock/agent', '--limits=core=0']);
    expect(a.indexOf('--remount-ro')).toBeGreaterThan(a.lastIndexOf('--ro-bind'));
  });

  it('caps /tmp and /work at disk_mb and binds no writable host path', () => {
    const a = bwrapArgs(limits, layout).join(' ');
    expect(a).toContain(`--size ${8 * 1024 * 1024} --tmpfs /tmp`);
    expect(a).toContain(`--size ${8 * 1024 * 1024} --tmpfs /work`);
    expect(a).not.toMatch(/--bind /);
    expect(a).not.toMatch(/--ro-bind \/home|\/root|\/var/);
  });

  it("binds an image's top-level entries instead of host dirs, links as links, and not what bwrap makes", () => {
    const rootfs = path.join(tmp, 'rootfs');
    for (const d of ['usr', 'etc', 'proc', 'tmp', 'work', 'dev']) mkdirSync(path.join(rootfs, d), { recursive: true });
    symlinkSync('usr/bin', path.join(rootfs, 'bin'));
    writeFileSync(path.join(rootfs, 'README'), 'x');
    const a = bwrapArgs(limits, { ...layout, rootfs }).join(' ');
    expect(a).toContain(`--ro-bind ${rootfs}/usr /usr`);
    expect(a).toContain(`--ro-bind ${rootfs}/etc /etc`);
    expect(a).toContain(`--ro-bind ${rootfs}/README /README`);
    expect(a).toContain('--symlink usr/bin /bin');
    for (const own of ['proc', 'tmp', 'work', 'dev']) expect(a).not.toContain(`${rootfs}/${own}`);
    expect(a).not.toContain('--ro-bind /usr /usr');
  });

  it("refuses paths outside the work dir, but for Paddock's own dir in /tmp", () => {
    expect(() => workPath('../etc/passwd')).toThrow(/outside/);
    expect(workPath('/work/x')).toBe('/work/x');
    expect(sandboxPath('a/b')).toBe('/work/a/b');
    expect(sandboxPath('/tmp/.paddock/script')).toBe('/tmp/.paddock/script');
    expect(() => sandboxPath('/tmp/.paddock/../x')).toThrow(/outside/);
    expect(() => sandboxPath('/tmp/x')).toThrow(/outside/);
  });
});

describe('buildChain', () => {
  it('is bwrap itself, under the host user when given one', () => {
    expect(buildChain(['--die-with-parent'], { bwrap: 'bwrap' })).toEqual({ file: 'bwrap', args: ['--die-with-parent'] });
    const c = buildChain([], { bwrap: 'bwrap', hostUser: { uid: 61000, gid: 61001 } });
    expect([c.uid, c.gid]).toEqual([61000, 61001]);
  });
});

describe('agentLimits', () => {
  it("binds the agent only by what bounds the whole sandbox (no CPU, memory or process limit), its fds on top of a command's", () => {
    expect(agentLimits(limits)).toBe(`--limits=nofile=${32 + AGENT_FDS},fsize=${8 * 1024 * 1024},core=0`);
  });
});

describe('execRlimits', () => {
  it('sets CPU seconds, file size, fds, processes and no core per exec; memory only without cgroups', () => {
    expect(execRlimits(limits, true)).toEqual({ cpu: 2, fsize: 8 * 1024 * 1024, nofile: 32, core: 0, nproc: 16 });
    expect(execRlimits(limits, false)).toEqual({ cpu: 2, fsize: 8 * 1024 * 1024, nofile: 32, core: 0, as: 64 * 1024 * 1024, nproc: 16 });
  });
});
