import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { PaddockClient } from '../../client/index.js';
import { PaddockError } from '../../errors.js';
import { connect } from '../client.js';
import { clientOptions } from './run.js';

/** `ID:/abs/path` inside a sandbox; anything else is a local path (`-`: stdin or stdout). */
export type Location = { sandbox: string; path: string } | { local: string };

export function parseLocation(arg: string): Location {
  const m = /^([A-Za-z0-9_-]+):(\/.*)$/.exec(arg);
  return m ? { sandbox: m[1]!, path: m[2]! } : { local: arg };
}

export function sandboxCpCommand(sandbox: Command): void {
  clientOptions(
    sandbox
      .command('cp')
      .description('copy a file into or out of a sandbox; one side is ID:/path, `-` is stdin/stdout')
      .argument('<src>')
      .argument('<dst>'),
  ).action(async (src: string, dst: string, opts) => {
    const from = parseLocation(src);
    const to = parseLocation(dst);
    if ('local' in from && 'local' in to) {
      throw new PaddockError('validation_failed', 'one side of cp must be in a sandbox: ID:/path');
    }
    await copy(connect(opts), from, to);
  });
}

/** Streams end to end: a file is never held whole, in either direction. */
async function copy(client: PaddockClient, from: Location, to: Location): Promise<void> {
  const files = client.sandboxes.files;
  if ('sandbox' in to) {
    let mode: number | undefined;
    let source: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>;
    let name: string;
    if ('sandbox' in from) {
      source = (await files.download(from.sandbox, from.path)).body;
      name = path.posix.basename(from.path);
    } else if (from.local === '-') {
      source = process.stdin;
      name = 'stdin';
    } else {
      const st = await statLocal(from.local);
      if (!st.isFile()) throw new PaddockError('validation_failed', `${from.local} is not a file`);
      mode = st.mode & 0o777; // scripts stay executable
      source = createReadStream(from.local);
      name = path.basename(from.local);
    }
    const dest = (await isRemoteDir(client, to.sandbox, to.path)) ? path.posix.join(to.path, name) : to.path;
    await files.upload(to.sandbox, dest, source, mode === undefined ? {} : { mode });
    return;
  }
  if (!('sandbox' in from)) throw new Error('unreachable: one side is remote');
  const download = await files.download(from.sandbox, from.path);
  const body = Readable.fromWeb(download.body as import('node:stream/web').ReadableStream<Uint8Array>);
  if (to.local === '-') {
    await pipeline(body, process.stdout as Writable, { end: false });
    return;
  }
  let dest = to.local;
  if ((await statLocal(dest).catch(() => undefined))?.isDirectory()) dest = path.join(dest, path.posix.basename(from.path));
  // Written beside the destination and renamed into place: a failed copy leaves no half file.
  const partial = `${dest}.paddock-${process.pid}.part`;
  try {
    await pipeline(body, createWriteStream(partial, { flags: 'wx' }));
    await rename(partial, dest);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

async function isRemoteDir(client: PaddockClient, id: string, p: string): Promise<boolean> {
  try {
    return (await client.sandboxes.files.stat(id, p)).type === 'dir';
  } catch (err) {
    if (err instanceof PaddockError && err.code === 'not_found') return false;
    throw err;
  }
}

async function statLocal(p: string) {
  try {
    return await stat(p);
  } catch (err) {
    throw new PaddockError('not_found', `cannot read ${p}: ${(err as Error).message}`);
  }
}
