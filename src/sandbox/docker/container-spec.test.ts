import { describe, expect, it } from 'vitest';
import { type ContainerPlan, containerCreateOptions } from './container-spec.js';

const limits = { timeout_ms: 60_000, memory_mb: 512, cpu_ms: 2500, pids: 128, output_bytes: 1 << 20, disk_mb: 64, open_files: 256, cpus: 1.5 };
const plan: ContainerPlan = { image: 'img', runtime: 'runc', limits, network: 'none', labels: {}, uid: 200_001, launcher: 'dropping', init: true };

describe('containerCreateOptions', () => {
  it('has every safe default: no network, no capabilities but setuid for the dropping launcher, read-only root, no log', () => {
    const o = containerCreateOptions(plan);
    expect(o.User).toBe('0:0');
    expect(o.NetworkDisabled).toBe(true);
    expect(o.HostConfig).toMatchObject({
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      CapAdd: ['SETUID', 'SETGID', 'SETPCAP'],
      SecurityOpt: ['no-new-privileges'],
      LogConfig: { Type: 'none' },
      PidsLimit: 128,
      NanoCpus: 1.5e9,
    });
    expect(o.HostConfig?.Sysctls).toBeUndefined();
  });

  it('runs a plain launcher as the uid itself, with no capabilities added', () => {
    const o = containerCreateOptions({ ...plan, launcher: 'plain' });
    expect(o.User).toBe('200001:200001');
    expect(o.HostConfig?.CapAdd).toBeUndefined();
  });

  it('caps memory with no swap, the tmpfs dirs by disk_mb, and CPU seconds rounded up', () => {
    const h = containerCreateOptions(plan).HostConfig!;
    expect(h.Memory).toBe(512 * 1024 * 1024);
    expect(h.MemorySwap).toBe(h.Memory);
    expect(h.Tmpfs?.['/work']).toContain(`size=${64 * 1024 * 1024},mode=0755,uid=200001,gid=200001`);
    expect(h.Ulimits).toContainEqual({ Name: 'cpu', Soft: 3, Hard: 4 });
    expect(h.Ulimits).toContainEqual({ Name: 'nofile', Soft: 256, Hard: 256 });
  });

  it("joins only the runner's firewalled network for egress, with IPv6 off; never another", () => {
    const o = containerCreateOptions({ ...plan, network: 'egress', egressNetwork: 'paddock-egress' });
    expect(o.NetworkDisabled).toBe(false);
    expect(o.HostConfig).toMatchObject({ NetworkMode: 'paddock-egress', Sysctls: { 'net.ipv6.conf.all.disable_ipv6': '1' } });
    expect(() => containerCreateOptions({ ...plan, network: 'egress' })).toThrow(/egress network/);
  });
});
