import type { Config } from '../config/schema.js';
import type { Logger } from '../util/log.js';
import { BwrapDriver } from './bwrap/driver.js';
import { DockerDriver } from './docker/driver.js';
import type { SandboxDriver } from './driver.js';
import { QemuDriver } from './qemu/driver.js';

/** Every sandbox driver this build knows, those the config names; `auto` ranks them by capabilities.strength. */
export function allDrivers(config: Config, log: Logger): SandboxDriver[] {
  const all: Record<Config['drivers'][number], () => SandboxDriver> = {
    gvisor: () => new DockerDriver(config, { name: 'gvisor', runtime: 'runsc', log }),
    docker: () => new DockerDriver(config, { name: 'docker', runtime: 'runc', log }),
    bwrap: () => new BwrapDriver(config, { log }),
    qemu: () => new QemuDriver(config, { log }),
  };
  return config.drivers.map((name) => all[name]());
}
