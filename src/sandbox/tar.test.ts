import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tarFiles } from './tar.js';

describe('tarFiles', () => {
  it('writes an archive GNU tar extracts with paths, content and modes intact', () => {
    const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/file.txt`;
    const archive = tarFiles([
      { path: 'a/b/c.txt', content: Buffer.from('hello') },
      { path: 'run.sh', content: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755 },
      { path: long, content: Buffer.alloc(1000, 'x') },
      { path: 'ü.txt', content: Buffer.from('ünïcode') },
    ]);
    expect(archive.length % 512).toBe(0);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'paddock-tar-'));
    execFileSync('tar', ['-x', '-C', dir, '-f', '-'], { input: archive });
    expect(readFileSync(path.join(dir, 'a/b/c.txt'), 'utf8')).toBe('hello');
    expect(statSync(path.join(dir, 'run.sh')).mode & 0o777).toBe(0o755);
    expect(readFileSync(path.join(dir, long), 'utf8')).toBe('x'.repeat(1000));
    expect(readFileSync(path.join(dir, 'ü.txt'), 'utf8')).toBe('ünïcode');
  });
});
