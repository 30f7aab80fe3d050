import { describe, expect, it } from 'vitest';
import { ConfigSchema, finishConfig } from '../../../config/schema.js';
import { DaytonaCreate, idleTimeoutMs, nativeCreate } from './create.js';
import { NAME_LABEL } from './sandbox-view.js';

const config = finishConfig(ConfigSchema.parse({ daytona: { minute_ms: 1000 } }));
const native = (body: unknown) => nativeCreate(DaytonaCreate.parse(body), config);

describe('a Daytona create request as Paddock’s own', () => {
  it('takes GiB as MiB, cpus as they are, minutes of inactivity as the idle TTL, the name as a label', () => {
    const req = native({ name: 'box-1', cpu: 1, memory: 0.5, disk: 2, autoStopInterval: 3, env: { A: '1' }, labels: { team: 'x' } });
    expect(req.limits).toMatchObject({ cpus: 1, memory_mb: 512, disk_mb: 2048, timeout_ms: config.limits.max.timeout_ms });
    expect(req.timeout_ms).toBe(3000);
    expect(req.labels).toEqual({ team: 'x', [NAME_LABEL]: 'box-1' });
    expect(req.env).toEqual({ A: '1' });
    expect(req.image).toBe('base');
  });

  it('autoStopInterval 0 (never) is the longest the runner allows; none is Daytona’s 15 minutes', () => {
    expect(idleTimeoutMs(config, 0)).toBe(config.sandboxes.max_lifetime_ms);
    expect(native({}).timeout_ms).toBe(15_000);
  });

  it('refuses Paddock’s own label prefix, bad env names and what this runner cannot do', () => {
    expect(() => native({ labels: { 'daytona.io/name': 'x' } })).toThrow(/Paddock's own/);
    expect(() => native({ env: { 'NOT-A-NAME': 'x' } })).toThrow(/env.NOT-A-NAME/);
    expect(() => native({ public: true })).toThrow(/not supported/);
    expect(DaytonaCreate.safeParse({ gpu: 1 }).success).toBe(false);
    expect(DaytonaCreate.safeParse({ volumes: [{ volumeId: 'v', mountPath: '/v' }] }).success).toBe(false);
    expect(DaytonaCreate.safeParse({ name: '../etc' }).success).toBe(false);
  });
});
