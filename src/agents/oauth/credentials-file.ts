import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { chmod, mkdir, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Config } from '../../config/schema.js';
import { PaddockError } from '../../errors.js';

/** A credentials file is a few hundred bytes; anything past this is not one. */
const MAX_FILE_BYTES = 64 * 1024;

/**
 * A token goes into an HTTP header and a JSON body: visible ASCII only, so a crafted file cannot
 * inject a header. Empty is allowed: Claude Code blanks both tokens when its refresh token is refused.
 */
const Token = z.string().max(8192).regex(/^[\x21-\x7e]*$/, 'must be visible ASCII without spaces');

/**
 * Claude Code's `claudeAiOauth` block as 2.1.197 writes it (its plaintext store,
 * `$CLAUDE_CONFIG_DIR/.credentials.json`): `expiresAt` is ms since the epoch, null for a token
 * without an expiry. Keys Paddock does not use are kept (loose), so a refresh rewrites the file as
 * Claude Code would.
 */
export const ClaudeAiOauth = z.looseObject({
  accessToken: Token,
  refreshToken: Token.nullish(),
  expiresAt: z.number().nonnegative().finite().nullish(),
  scopes: z.array(z.string().max(200)).max(100).optional(),
  subscriptionType: z.string().max(100).nullish(),
  rateLimitTier: z.string().max(100).nullish(),
  clientId: z.string().max(200).optional(),
});
export type ClaudeAiOauth = z.infer<typeof ClaudeAiOauth>;

/** The whole file: the CLI keeps other logins (MCP servers, gateways) beside ours, left as they are. */
export const CredentialsFile = z.looseObject({ claudeAiOauth: ClaudeAiOauth.optional() });
export type CredentialsFile = z.infer<typeof CredentialsFile>;

/** Where the runner keeps its login: `agents.oauth.credentials_file`, else `<data_dir>/agent/.credentials.json`. */
export function credentialsPath(config: Pick<Config, 'data_dir' | 'agents'>): string {
  return path.resolve(config.agents.oauth.credentials_file || path.join(config.data_dir, 'agent', '.credentials.json'));
}

export interface ReadCredentials {
  data: CredentialsFile;
  /** The file's stat when read: a change of it means someone wrote a new login. */
  stat: Stats;
}

/**
 * Reads and validates a credentials file; null when there is none. A bad file is a
 * `validation_failed` naming the file and the field, never its content (it holds tokens, and
 * Node's JSON.parse message quotes the text it choked on).
 */
export function readCredentialsFile(file: string): ReadCredentials | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new PaddockError('validation_failed', `cannot read credentials file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let text: string;
  let stat: Stats;
  try {
    stat = fstatSync(fd);
    if (!stat.isFile()) throw new PaddockError('validation_failed', `credentials file ${file} is not a regular file`);
    if (stat.size > MAX_FILE_BYTES) throw new PaddockError('validation_failed', `credentials file ${file} is larger than ${MAX_FILE_BYTES} bytes`);
    const buf = Buffer.alloc(MAX_FILE_BYTES + 1);
    let n = 0;
    for (let got; n < buf.length && (got = readSync(fd, buf, n, buf.length - n, null)) > 0; ) n += got;
    if (n > MAX_FILE_BYTES) throw new PaddockError('validation_failed', `credentials file ${file} is larger than ${MAX_FILE_BYTES} bytes`);
    text = buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
  return { data: parseCredentials(text, file), stat };
}

/** Validates a credentials file's text; `where` names it in the error. */
export function parseCredentials(text: string, where: string): CredentialsFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new PaddockError('validation_failed', `credentials file ${where} is not valid JSON`);
  }
  const parsed = CredentialsFile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = issue.path.map(String).join('.') || '(root)';
    // zod's messages name types and bounds, never the value.
    throw new PaddockError('validation_failed', `credentials file ${where} is not in Claude Code's format: ${at}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * Writes a credentials file as a whole or not at all (a temp file in the same directory, fsynced,
 * then renamed over it), mode 0600; a directory it has to create is 0700.
 */
export async function writeCredentialsFile(file: string, data: CredentialsFile): Promise<void> {
  const dir = path.dirname(file);
  const created = await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode passes through the umask; only the directories made here are ours to set.
  if (created !== undefined) chmodSync(dir, 0o700);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(`${JSON.stringify(data, null, 2)}\n`);
    await handle.sync();
    await handle.close();
    await rename(tmp, file);
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw new PaddockError('internal', `cannot write credentials file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, undefined, { cause: err });
  }
  // A file renamed over keeps the new inode's mode; this guards against a umask-less filesystem.
  await chmod(file, 0o600).catch(() => undefined);
}
