import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { macOf } from './network.js';
import { claimSubnet } from './subnets.js';

describe('VM bridge subnets', () => {
  it('runners on one host get different /24s of the pool, and the host\'s own networks are skipped', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pq-claims-'));
    const got = await Promise.all(['aaaaaaaa0001', 'aaaaaaaa0002', 'aaaaaaaa0003'].map((r) => claimSubnet(dir, '10.213.0.0/22', r, ['10.213.2.0/24'])));
    expect(new Set(got).size).toBe(3);
    for (const s of got) expect(s).toMatch(/^10\.213\.[013]\.0\/24$/);
    // The pool is used up (one /24 is the host's): the next runner is told so.
    await expect(claimSubnet(dir, '10.213.0.0/22', 'bbbbbbbb0001', ['10.213.2.0/24'])).rejects.toThrow(/no \/24 .* is free/);
    // The same runner again (a restart) gets its own back.
    expect(await claimSubnet(dir, '10.213.0.0/22', 'aaaaaaaa0002', ['10.213.2.0/24'])).toBe(got[1]);
  });

  it('a claim whose process is gone is taken over; a live one is not', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pq-claims-'));
    const dead = spawnSync('true').pid!;
    mkdirSync(path.join(dir, '10.9.0.0_24'));
    writeFileSync(path.join(dir, '10.9.0.0_24', 'owner'), `cccccccc0001 ${dead}\n`);
    mkdirSync(path.join(dir, '10.9.1.0_24'));
    writeFileSync(path.join(dir, '10.9.1.0_24', 'owner'), `cccccccc0002 ${process.ppid}\n`);
    const got = await claimSubnet(dir, '10.9.0.0/23', '000000000000', []);
    expect(got).toBe('10.9.0.0/24');
    expect(readFileSync(path.join(dir, '10.9.0.0_24', 'owner'), 'utf8')).toBe(`000000000000 ${process.pid}\n`);
    await expect(claimSubnet(dir, '10.9.0.0/23', '000000000001', [])).rejects.toThrow(/free/);
  });

  it('a namespace\'s MAC follows from its address', () => {
    expect(macOf('10.213.0.2')).toBe('02:50:0a:d5:00:02');
  });
});
