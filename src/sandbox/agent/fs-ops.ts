import { ChannelReadable } from './channel-streams.js';
import { isProtocolError, protocolError } from './errors.js';
import { LineSplitter } from './lines.js';
import { Entry, parsePayload } from './messages.js';
import { Channel, MAX_LIST_DEPTH, MAX_LIST_ENTRIES } from './protocol.js';
import { checkInt, checkPath } from './requests.js';
import type { AgentSession } from './session.js';

export type { Entry } from './messages.js';

export async function stat(session: AgentSession, path: string): Promise<Entry> {
  return (await session.open('stat', { path: checkPath('path', path) }).done) as Entry;
}

export async function mkdir(session: AgentSession, path: string, opts: { parents?: boolean; mode?: number } = {}): Promise<void> {
  const body: Record<string, unknown> = { path: checkPath('path', path), parents: opts.parents === true };
  if (opts.mode !== undefined) body.mode = checkInt('mode', opts.mode, 0, 0o7777);
  await session.open('mkdir', body).done;
}

export async function remove(session: AgentSession, path: string, opts: { recursive?: boolean } = {}): Promise<void> {
  await session.open('remove', { path: checkPath('path', path), recursive: opts.recursive === true }).done;
}

export async function rename(session: AgentSession, from: string, to: string, opts: { overwrite?: boolean } = {}): Promise<void> {
  const body = { from: checkPath('from', from), to: checkPath('to', to), overwrite: opts.overwrite === true };
  await session.open('rename', body).done;
}

export interface ListOptions {
  /** Levels below `path` (default 1, at most 32). */
  depth?: number;
  /** Entries at most (default and cap 100000 for listEntries, 10000 for list). */
  maxEntries?: number;
}

export interface ListSummary {
  count: number;
  truncated: boolean;
}

/**
 * Entries as the consumer pulls them: the agent's window is granted as lines are taken, so a slow
 * consumer holds at most one window of lines. Leaving the loop early cancels the listing. A line
 * that is no entry, more entries than asked, or a count that disagrees ends the connection.
 */
export async function* listEntries(session: AgentSession, path: string, opts: ListOptions = {}): AsyncGenerator<Entry, ListSummary> {
  const depth = checkInt('depth', opts.depth ?? 1, 1, MAX_LIST_DEPTH);
  const max = checkInt('maxEntries', opts.maxEntries ?? MAX_LIST_ENTRIES, 1, MAX_LIST_ENTRIES);
  const op = session.open('list', { path: checkPath('path', path), depth, max_entries: max });
  const readable = new ChannelReadable(op, Channel.OUT, () => op.cancel());
  const lines = new LineSplitter();
  let count = 0;
  const entry = (line: Buffer): Entry => {
    if (++count > max) throw protocolError(`list sent more than the ${max} entries asked for`);
    return parsePayload('list entry', line, Entry);
  };
  try {
    for await (const chunk of readable) {
      for (const line of lines.push(chunk as Buffer)) yield entry(line);
    }
    const last = lines.end();
    if (last) yield entry(last);
    const result = (await op.done) as ListSummary;
    if (result.count !== count) throw protocolError(`list RESULT counts ${result.count} entries, ${count} came`);
    return { count: result.count, truncated: result.truncated };
  } catch (err) {
    if (isProtocolError(err)) session.violation(err);
    throw err;
  } finally {
    readable.destroy();
  }
}

/** All entries in one array, at most `maxEntries` (default 10000) of them. */
export async function list(session: AgentSession, path: string, opts: ListOptions = {}): Promise<{ entries: Entry[]; truncated: boolean }> {
  const it = listEntries(session, path, { ...opts, maxEntries: opts.maxEntries ?? 10_000 });
  const entries: Entry[] = [];
  for (;;) {
    const next = await it.next();
    if (next.done) return { entries, truncated: next.value.truncated };
    entries.push(next.value);
  }
}
