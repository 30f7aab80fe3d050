import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PaddockError } from '../../src/errors.js';
import { AgentClient } from '../../src/sandbox/agent/agent-client.js';
import { execOnAgent } from '../../src/sandbox/agent-exec.js';
import type { ExecResult, Sandbox, SandboxDriver, SandboxSpec } from '../../src/sandbox/driver.js';

const AGENT = path.resolve('dist/agent/paddock-agent');

/** Builds dist/agent/paddock-agent when it is missing (needs Go), as test/agent-protocol.int.test.ts does. */
export function ensureAgentBuilt(): void {
  if (!existsSync(AGENT)) execFileSync('bash', ['scripts/build-agent.sh'], { stdio: 'inherit' });
}

const unavailable = async (): Promise<void> => {
  throw new PaddockError('driver_unavailable', 'this hostagent driver was made without pause');
};

export interface HostAgentSandbox extends Sandbox {
  /** The host directory mounted at /work inside this sandbox. */
  workDir: string;
  child: ChildProcess;
}

/**
 * A test-only driver whose sandboxes are the real paddock-agent on this host, over
 * stdio pipes: each one PID 1 of its own PID namespace (so killing it ends
 * everything it started) with its own private /work (a temp dir bind-mounted in
 * its own mount namespace). Not a security boundary — it exists so the sandbox
 * service and API can be tested against the real agent before a real driver
 * keeps sandboxes. Needs root (unshare).
 */
export class HostAgentDriver implements SandboxDriver {
  readonly name = 'hostagent';
  readonly capabilities = {
    isolation: 'namespaces' as const,
    strength: 1,
    network: ['none', 'egress'] as const,
    images: false,
    persistent: true,
    pause: false,
    snapshot: false,
    fork: false,
  };
  readonly created: HostAgentSandbox[] = [];
  private readonly root = mkdtempSync(path.join(os.tmpdir(), 'paddock-hostagent-'));
  private readonly agent = path.join(this.root, 'paddock-agent');

  constructor(private readonly opts: { pause?: boolean } = {}) {
    this.capabilities.pause = Boolean(opts.pause);
    ensureAgentBuilt();
    // Outside /work, which each sandbox mounts over.
    copyFileSync(AGENT, this.agent);
  }

  async detect() {
    return { available: true };
  }

  async checkImage(image: string): Promise<void> {
    throw new PaddockError('image_not_found', `hostagent runs no images (asked for ${image})`, { image });
  }

  async create(spec: SandboxSpec): Promise<Sandbox> {
    const workDir = path.join(this.root, spec.id);
    mkdirSync(workDir);
    const child = spawn(
      'unshare',
      ['--pid', '--fork', '--kill-child', '--mount', 'sh', '-c', 'mount --bind "$0" /work && exec "$1"', workDir, this.agent],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    let destroyed = false;
    const died = new Promise<string>((resolve) =>
      child.once('exit', (code, signal) => !destroyed && resolve(`agent exited (${signal ?? code})`)),
    );
    const agent = await AgentClient.connect({ readable: child.stdout!, writable: child.stdin! }, { helloTimeoutMs: 5000 });
    const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
    const sandbox: HostAgentSandbox = {
      id: spec.id,
      workDir,
      child,
      agent,
      died,
      // Jobs' commands (the actions kind's runner) through the agent, as every driver runs them.
      exec: (req, sink, signal): Promise<ExecResult> => execOnAgent(agent, req, sink, signal, { limits: spec.limits }),
      pause: unavailable,
      resume: unavailable,
      async destroy() {
        destroyed = true;
        child.kill('SIGKILL');
        await exited;
        rmSync(workDir, { recursive: true, force: true });
      },
    };
    if (this.opts.pause) {
      // SIGSTOP of unshare alone would leave the agent running: freeze the namespace's PID 1 too.
      const agentPid = () => Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ')[0]);
      sandbox.pause = async () => {
        process.kill(agentPid(), 'SIGSTOP');
      };
      sandbox.resume = async () => {
        process.kill(agentPid(), 'SIGCONT');
      };
    }
    this.created.push(sandbox);
    return sandbox;
  }

  async reapOrphans(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {
    await Promise.all(this.created.map((s) => s.destroy()));
    rmSync(this.root, { recursive: true, force: true });
  }
}
