import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { ConfigSchema, finishConfig } from '../../../config/schema.js';
import { newRecord } from '../../../sandboxes/record.js';
import { SandboxCreate } from '../../../sandboxes/spec.js';
import { daytonaState, NAME_LABEL, sandboxDto, toolboxUrl } from './sandbox-view.js';

const config = finishConfig(ConfigSchema.parse({ daytona: { minute_ms: 1000 } }));
const request = { protocol: 'http', host: '10.0.0.5:7878' } as FastifyRequest;

const row = (req: Partial<SandboxCreate>, timeout: number) =>
  newRecord({
    id: 'sbx_1',
    tokenId: 't',
    driver: 'bwrap',
    image: 'python',
    req: SandboxCreate.parse(req),
    limits: { ...config.limits.default, cpus: 2, memory_mb: 1536, disk_mb: 3072 },
    timeout,
    maxLifetime: config.sandboxes.max_lifetime_ms,
    hostId: 'host-a',
  });

describe('the Daytona view of a Paddock sandbox', () => {
  it('maps states: running started, paused stopped, died error, any other end destroyed', () => {
    expect(daytonaState({ state: 'running', reason: null })).toBe('started');
    expect(daytonaState({ state: 'paused', reason: null })).toBe('stopped');
    expect(daytonaState({ state: 'destroyed', reason: 'died' })).toBe('error');
    expect(daytonaState({ state: 'destroyed', reason: 'idle_timeout' })).toBe('destroyed');
  });

  it('forms toolboxProxyUrl from the request’s origin, or daytona.public_url when set', () => {
    expect(toolboxUrl(config, request)).toBe('http://10.0.0.5:7878/daytona/toolbox');
    const proxied = finishConfig(ConfigSchema.parse({ daytona: { public_url: 'https://paddock.example.com/' } }));
    expect(toolboxUrl(proxied, request)).toBe('https://paddock.example.com/daytona/toolbox');
    expect(ConfigSchema.safeParse({ daytona: { public_url: 'ftp://x' } }).success).toBe(false);
  });

  it('shows resources in GiB, the idle TTL in minutes, its own labels hidden and env values not echoed', () => {
    const dto = sandboxDto(row({ labels: { team: 'x', [NAME_LABEL]: 'box' }, env: { SECRET: 's3cr3t' } }, 3000), config, 'u');
    expect(dto).toMatchObject({ name: 'box', cpu: 2, memory: 1.5, disk: 3, autoStopInterval: 3, labels: { team: 'x' }, env: {}, state: 'started' });
    expect(JSON.stringify(dto)).not.toContain('s3cr3t');
    expect(sandboxDto(row({}, config.sandboxes.max_lifetime_ms), config, 'u')).toMatchObject({ name: 'sbx_1', autoStopInterval: 0 });
  });
});
