import type Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load.js';
import { createLogger } from '../../util/log.js';
import { DockerDriver } from './driver.js';

// A runner in a container (deploy/compose) names the agent by the path the Docker Engine sees.
describe('docker.agent_path', () => {
  const engine = { info: async () => ({ ServerVersion: '20.10', Runtimes: { runc: {} } }) } as unknown as Dockerode;
  const config = (agent_path: string) => loadConfig({ env: {}, flags: { data_dir: '/tmp/unused', docker: { agent_path } } });

  it('is the binary the driver mounts: one that is not there keeps the driver out, naming it', async () => {
    const driver = new DockerDriver(config('/srv/nowhere/paddock-agent'), { name: 'docker', runtime: 'runc', docker: engine, log: createLogger('silent') });
    const probe = await driver.detect();
    expect(probe.available).toBe(false);
    expect(probe.reason).toContain('/srv/nowhere/paddock-agent');
  });

  it('must be an absolute path', () => {
    expect(() => config('agent')).toThrow(/docker\.agent_path.*absolute/s);
  });
});
