import { randomBytes } from 'node:crypto';
import { PaddockError } from '../../../errors.js';
import type { SandboxService } from '../../../sandboxes/service.js';
import type { SessionCommand } from './session-command.js';

/** Sessions per sandbox, and commands kept per session (the oldest ended ones go first). */
export const MAX_SESSIONS = 32;
export const MAX_COMMANDS = 64;
/**
 * Ended commands of one sandbox (all its sessions) that keep their output; older ones keep their
 * exit code only. With the running ones (at most sandboxes.max_execs) this bounds a sandbox's
 * kept logs to (max_execs + KEPT_OUTPUTS) × limits.output_bytes.
 */
export const KEPT_OUTPUTS = 8;

export interface Session {
  id: string;
  /** Names the session's state files (session-shell.ts): a session made again under an old id starts afresh. */
  stateKey: string;
  commands: Map<string, SessionCommand>;
}

const gone = (sid: string) =>
  new PaddockError('not_found', `session ${sid} not found`, { daytona_code: 'SESSION_NOT_FOUND' });

/**
 * Daytona's process sessions, held for the runner's live sandboxes. Paddock has no session of
 * its own: a session is a name for a group of commands, each a native exec of its own (what
 * carries between them: session-shell.ts). Sessions of a
 * sandbox that ended are forgotten the next time any sandbox's sessions are touched.
 */
export class Sessions {
  private readonly bySandbox = new Map<string, Map<string, Session>>();

  constructor(private readonly sandboxes: SandboxService) {}

  private prune(): void {
    for (const id of this.bySandbox.keys()) if (!this.sandboxes.liveById(id)) this.bySandbox.delete(id);
  }

  private of(sandboxId: string): Map<string, Session> {
    this.prune();
    let m = this.bySandbox.get(sandboxId);
    if (!m) this.bySandbox.set(sandboxId, (m = new Map()));
    return m;
  }

  create(sandboxId: string, sid: string): Session {
    const m = this.of(sandboxId);
    if (m.has(sid)) throw new PaddockError('conflict', `session ${sid} already exists`);
    if (m.size >= MAX_SESSIONS) {
      throw new PaddockError('quota_exceeded', `sandbox ${sandboxId} already has ${MAX_SESSIONS} sessions; delete one`, { limit: MAX_SESSIONS });
    }
    const s: Session = { id: sid, stateKey: `${sid}-${randomBytes(6).toString('hex')}`, commands: new Map() };
    m.set(sid, s);
    return s;
  }

  get(sandboxId: string, sid: string): Session {
    const s = this.of(sandboxId).get(sid);
    if (!s) throw gone(sid);
    return s;
  }

  list(sandboxId: string): Session[] {
    return [...this.of(sandboxId).values()];
  }

  /** Ends the session's running commands, as Daytona does when it kills the session's shell. */
  delete(sandboxId: string, sid: string): void {
    const s = this.get(sandboxId, sid);
    for (const c of s.commands.values()) if (!c.run.ended) c.run.cancel();
    this.of(sandboxId).delete(sid);
  }

  command(sandboxId: string, sid: string, cid: string): SessionCommand {
    const c = this.get(sandboxId, sid).commands.get(cid);
    if (!c) throw new PaddockError('not_found', `command ${cid} not found in session ${sid}`, { daytona_code: 'COMMAND_NOT_FOUND' });
    return c;
  }

  add(sandboxId: string, s: Session, c: SessionCommand): void {
    s.commands.set(c.id, c);
    for (const [id, old] of s.commands) {
      if (s.commands.size <= MAX_COMMANDS) break;
      if (old.run.ended) s.commands.delete(id);
    }
    void c.ended.then(() => this.retain(sandboxId));
  }

  /** Keeps the output of the newest KEPT_OUTPUTS ended commands of a sandbox only. */
  private retain(sandboxId: string): void {
    const all = [...(this.bySandbox.get(sandboxId)?.values() ?? [])].flatMap((s) => [...s.commands.values()]);
    // Ids sort by creation time (src/util/ids.ts), newest last.
    const held = all.filter((c) => c.holdsOutput).sort((a, b) => (a.id < b.id ? 1 : -1));
    for (const c of held.slice(KEPT_OUTPUTS)) c.dropOutput();
  }
}
