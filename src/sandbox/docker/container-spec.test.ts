import { describe, expect, it } from 'vitest';
import {
  AGENT_CAPS, AGENT_PIDS, type ContainerPlan, containerCreateOptions, containerPidsLimit, GVISOR_HOST_TASKS_PER_PROCESS, GVISOR_HOST_THREADS, GVISOR_PID_MAX_SHARE,
} from './container-spec.js';

const limits = { timeout_ms: 60_000, memory_mb: 512, cpu_ms: 2500, pids: 128, output_bytes: 1 << 20, disk_mb: 64, open_files: 256, cpus: 1.5 };
const plan: ContainerPlan = { image: 'img', runtime: 'runc', limits, network: 'none', labels: {}, uid: 200_001, agentPath: '/opt/paddock/agent' };

describe('containerCreateOptions', () => {
  it('has every safe default: no network, only the agent\'s capabilities, read-only root, no log', () => {
    const o = containerCreateOptions(plan);
    expect(o.User).toBe('0:0');
    expect(o.NetworkDisabled).toBe(true);
    expect(o.HostConfig).toMatchObject({
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      CapAdd: AGENT_CAPS,
      SecurityOpt: ['no-new-privileges'],
      LogConfig: { Type: 'none' },
      PidsLimit: 128 + AGENT_PIDS,
      NanoCpus: 1.5e9,
    });
    expect([...AGENT_CAPS].sort()).toEqual(['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'KILL', 'SETGID', 'SETPCAP', 'SETUID']);
    expect(o.HostConfig?.Sysctls).toBeUndefined();
    expect(() => containerCreateOptions({ ...plan, uid: 0 })).toThrow(/uid/);
  });

  it("gives the agent room of its own on top of the job's pids, and on gVisor the host's cost of every guest process", () => {
    expect(AGENT_PIDS).toBeGreaterThanOrEqual(16);
    expect(containerPidsLimit('runsc', 128, 4_194_304)).toBe(GVISOR_HOST_THREADS + (128 + AGENT_PIDS) * GVISOR_HOST_TASKS_PER_PROCESS);
    expect(containerCreateOptions({ ...plan, runtime: 'runsc' }).HostConfig?.PidsLimit).toBe(containerPidsLimit('runsc', 128));
  });

  it("never gives one gVisor sandbox more than a share of the host's pids, nor less than its own and gVisor's threads", () => {
    expect(containerPidsLimit('runsc', 128, 32_768)).toBe(32_768 / GVISOR_PID_MAX_SHARE);
    expect(containerPidsLimit('runsc', 4, 32_768)).toBe(GVISOR_HOST_THREADS + (4 + AGENT_PIDS) * GVISOR_HOST_TASKS_PER_PROCESS);
    expect(containerPidsLimit('runsc', 5000, 32_768)).toBe(GVISOR_HOST_THREADS + 5000 + AGENT_PIDS);
    expect(containerPidsLimit('runc', 128, 32_768)).toBe(128 + AGENT_PIDS);
  });

  it('runs the agent, bind-mounted read-only, as PID 1 on the attached stdio, starting commands as the uid', () => {
    const o = containerCreateOptions(plan);
    expect({ entrypoint: o.Entrypoint, cmd: o.Cmd, init: o.HostConfig?.Init, mounts: o.HostConfig?.Mounts }).toEqual({
      entrypoint: ['/.paddock/agent'],
      cmd: ['--run-as=200001'],
      init: false,
      mounts: [{ Type: 'bind', Source: '/opt/paddock/agent', Target: '/.paddock/agent', ReadOnly: true }],
    });
    expect({ stdin: o.OpenStdin, once: o.StdinOnce, tty: o.Tty, out: o.AttachStdout, err: o.AttachStderr }).toEqual({
      stdin: true,
      once: true,
      tty: false,
      out: true,
      err: true,
    });
  });

  it('caps memory with no swap, the tmpfs dirs by disk_mb, and CPU seconds rounded up', () => {
    const h = containerCreateOptions(plan).HostConfig!;
    expect(h.Memory).toBe(512 * 1024 * 1024);
    expect(h.MemorySwap).toBe(h.Memory);
    expect(h.Tmpfs?.['/work']).toContain(`size=${64 * 1024 * 1024},mode=0755,uid=200001,gid=200001`);
    expect(h.Ulimits).toContainEqual({ Name: 'cpu', Soft: 3, Hard: 4 });
    expect(h.Ulimits).toContainEqual({ Name: 'nofile', Soft: 256, Hard: 256 });
  });

  it("holds the job's uid to pids on runc (the agent, root, is not); not on gVisor, which would hold the agent too", () => {
    expect(containerCreateOptions(plan).HostConfig!.Ulimits).toContainEqual({ Name: 'nproc', Soft: 128, Hard: 128 });
    expect(containerCreateOptions({ ...plan, runtime: 'runsc' }).HostConfig!.Ulimits!.map((u) => u.Name)).not.toContain('nproc');
  });

  it("joins only the runner's firewalled network for egress, with IPv6 off; never another", () => {
    const o = containerCreateOptions({ ...plan, network: 'egress', egressNetwork: 'paddock-egress' });
    expect(o.NetworkDisabled).toBe(false);
    expect(o.HostConfig).toMatchObject({ NetworkMode: 'paddock-egress', Sysctls: { 'net.ipv6.conf.all.disable_ipv6': '1' } });
    expect(() => containerCreateOptions({ ...plan, network: 'egress' })).toThrow(/egress network/);
  });
});
