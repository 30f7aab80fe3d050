import type Dockerode from 'dockerode';
import type { Config } from '../../config/schema.js';
import { PaddockError } from '../../errors.js';
import type { Logger } from '../../util/log.js';
import { EgressFirewall, firewallMissing, hostResolvers, hostSubnets } from '../egress/firewall.js';
import { resolveAllowList } from '../egress/resolve.js';
import { egressChains } from '../egress/rules.js';
import { LABELS } from './labels.js';

/** What older versions shared between runners, with no firewall of its own. */
const LEGACY_NETWORK = 'paddock-egress';

/**
 * The bridge network `network: "egress"` jobs join, one per runner, and the
 * firewall around it: the public internet only — not other sandboxes, not the
 * host, not private, link-local (metadata) or reserved ranges unless
 * `egress.allow_cidrs` says so, and per job only what its allow list names.
 * The rules are installed when the driver starts and removed when it closes;
 * if they cannot be, egress is unavailable (never open).
 */
export class EgressNetwork {
  readonly name: string;
  /** Fixed, so the rules can name the bridge before Docker creates it (at most 15 characters). */
  readonly bridge: string;
  private readonly firewall: EgressFirewall;
  private started: Promise<void> | undefined;
  private failed: string | undefined;
  private network: Promise<void> | undefined;
  private created = false;

  constructor(
    private readonly docker: Dockerode,
    private readonly runner: string,
    private readonly host: string,
    private readonly config: Config['egress'],
    private readonly log: Logger,
  ) {
    this.name = `paddock-egress-${runner}`;
    this.bridge = `pdk${runner}`.slice(0, 15);
    this.firewall = new EgressFirewall({
      bridge: this.bridge,
      chains: egressChains(runner),
      allowCidrs: config.allow_cidrs,
      resolvers: [],
      hostSubnets: [],
    });
  }

  /** Set once installing (or re-installing) the firewall failed: egress stays unavailable. */
  get failure(): string | undefined {
    return this.failed;
  }

  /** Why egress cannot be offered, or undefined; reads only (doctor runs it beside a live runner). */
  async unavailable(): Promise<string | undefined> {
    return this.failed ?? (await firewallMissing());
  }

  /** Installs the rules (once); a failure is remembered and makes egress unavailable. */
  start(): Promise<void> {
    this.started ??= this.install();
    return this.started;
  }

  private async install(): Promise<void> {
    try {
      const missing = await firewallMissing();
      if (missing) throw new Error(missing);
      // Read now: the host's resolvers and networks as they are when the runner starts.
      Object.assign(this.firewall.plan, {
        resolvers: this.config.dns ? hostResolvers() : [],
        hostSubnets: hostSubnets(),
      });
      await this.firewall.install();
      this.log.info({ bridge: this.bridge, chains: this.firewall.plan.chains }, 'egress firewall installed');
    } catch (err) {
      this.failed = `egress firewall could not be installed: ${(err as Error).message}`;
      this.log.error({ err }, 'egress is unavailable');
      await this.firewall.uninstall().catch(() => undefined);
    }
  }

  /** Before a container joins: rules in place and the network there; throws when egress is unavailable. */
  async ready(): Promise<void> {
    await this.start();
    if (this.failed) throw new PaddockError('driver_unavailable', this.failed);
    this.network ??= this.createNetwork().catch((err) => {
      this.network = undefined;
      throw new PaddockError('driver_error', `cannot create the egress network: ${(err as Error).message}`);
    });
    await this.network;
  }

  /** A firewall reload can flush the jumps into Paddock's chains; put them back (called periodically). */
  async verify(): Promise<void> {
    if (!this.started || this.failed) return;
    await this.started;
    if (await this.firewall.intact()) return;
    this.log.error({ bridge: this.bridge }, 'egress firewall rules were removed from outside; installing them again');
    await this.firewall.install().catch((err) => {
      this.failed = `egress firewall could not be reinstalled: ${(err as Error).message}`;
      this.log.error({ err }, 'egress is unavailable');
    });
  }

  /** Narrows one started container to its job's allow list, before the job runs in it. */
  async restrict(container: Dockerode.Container, allow: string[]): Promise<void> {
    const info = await container.inspect();
    const ip = info.NetworkSettings.Networks[this.name]?.IPAddress;
    if (!ip) throw new PaddockError('driver_error', `container ${container.id.slice(0, 12)} has no address on ${this.name}`);
    const { cidrs, unresolved } = await resolveAllowList(allow);
    if (unresolved.length) this.log.warn({ unresolved }, 'allow-list names did not resolve; they allow nothing');
    await this.firewall.allowOnly(container.id, ip, cidrs);
  }

  /** After the container is removed. */
  release(containerId: string): Promise<void> {
    return this.firewall.release(containerId);
  }

  /** When the driver closes, after its containers are gone: the network, then the rules. */
  async close(): Promise<void> {
    if (!this.started) return;
    await this.started;
    if (this.created) {
      try {
        await this.docker.getNetwork(this.name).remove();
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 404) {
          // Something is still attached: leave the rules, which only ever refuse (the next start replaces them).
          this.log.warn({ err }, 'egress network still in use; its firewall rules stay until the next start');
          return;
        }
      }
    }
    await this.firewall.uninstall();
  }

  private async createNetwork(): Promise<void> {
    // One left by an earlier process of this runner may predate these options: start afresh.
    for (const name of [this.name, LEGACY_NETWORK]) {
      const found = await this.docker.listNetworks({ filters: { name: [name] } });
      for (const n of found.filter((f) => f.Name === name)) {
        await this.docker.getNetwork(n.Id).remove().catch((err: Error) => {
          if (name === this.name) throw err; // a legacy one still in use is someone else's
        });
      }
    }
    await this.docker.createNetwork({
      Name: this.name,
      Driver: 'bridge',
      CheckDuplicate: true,
      EnableIPv6: false,
      Labels: { [LABELS.runner]: this.runner, [LABELS.host]: this.host },
      Options: {
        'com.docker.network.bridge.name': this.bridge,
        'com.docker.network.bridge.enable_icc': 'false',
        'com.docker.network.bridge.enable_ip_masquerade': 'true',
      },
    });
    this.created = true;
  }
}
