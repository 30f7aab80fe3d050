import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSeccompFilter, SECCOMP_POLICY, SECCOMP_PYTHON } from './seccomp.js';

// The shipped filter is libseccomp's binary-tree layout (faster per syscall); it must decide
// every call exactly as the default list layout of the same rules does, on every ABI.
const dir = mkdtempSync(path.join(os.tmpdir(), 'paddock-seccomp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

function load(file: string): Insn[] {
  const b = readFileSync(file);
  const prog: Insn[] = [];
  for (let i = 0; i < b.length; i += 8) prog.push({ code: b.readUInt16LE(i), jt: b[i + 2]!, jf: b[i + 3]!, k: b.readUInt32LE(i + 4) });
  return prog;
}

/** Classic BPF as the kernel runs it over struct seccomp_data; only the opcodes libseccomp emits. */
function evaluate(prog: Insn[], data: Buffer): number {
  let a = 0;
  let x = 0;
  const mem = new Array<number>(16).fill(0);
  for (let pc = 0; pc < prog.length; pc++) {
    const { code, jt, jf, k } = prog[pc]!;
    switch (code) {
      case 0x20: a = data.readUInt32LE(k); break; // ld [k]
      case 0x00: a = k; break; // ld #k
      case 0x01: x = k; break; // ldx #k
      case 0x60: a = mem[k]!; break; // ld M[k]
      case 0x61: x = mem[k]!; break; // ldx M[k]
      case 0x02: mem[k] = a; break; // st M[k]
      case 0x03: mem[k] = x; break; // stx M[k]
      case 0x54: a = (a & k) >>> 0; break; // and #k
      case 0x44: a = (a | k) >>> 0; break; // or #k
      case 0x87: a = x; break; // txa
      case 0x07: x = a; break; // tax
      case 0x05: pc += k; break; // ja
      case 0x15: pc += a === k ? jt : jf; break; // jeq #k
      case 0x25: pc += a > k ? jt : jf; break; // jgt #k
      case 0x35: pc += a >= k ? jt : jf; break; // jge #k
      case 0x45: pc += a & k ? jt : jf; break; // jset #k
      case 0x06: return k; // ret #k
      case 0x16: return a; // ret a
      default: throw new Error(`unexpected BPF opcode 0x${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error('program ran past its end');
}

const AUDIT_ARCH = { x86_64: 0xc000003e, i386: 0x40000003, unknown: 0x12345678 };
const X32_BIT = 0x40000000;
const ARGS = [0n, 1n, 0x80n, 0x20000n, 0x20008n, 0x20009n, 0x40000n, 0x40000000n, 0x80000000n, 0xffffffffn, 0x1_0000_0000n, 2n ** 64n - 1n];

describe('seccomp filter layout', () => {
  it('the binary tree decides every (ABI, syscall, argument) like the list, and denies what the policy lists', async () => {
    const tree = load((await buildSeccompFilter(path.join(dir, 'tree.bpf'))).file);
    const list = load((await buildSeccompFilter(path.join(dir, 'list.bpf'), 'list')).file);
    expect(tree).not.toEqual(list); // otherwise this compares a program with itself

    const data = Buffer.alloc(64);
    const decide = (prog: Insn[], arch: number, nr: number, arg: bigint) => {
      data.fill(0);
      data.writeUInt32LE(nr >>> 0, 0);
      data.writeUInt32LE(arch, 4);
      for (let i = 0; i < 6; i++) data.writeBigUInt64LE(arg, 16 + 8 * i);
      return evaluate(prog, data);
    };
    const decisions = new Set<number>();
    for (const arch of Object.values(AUDIT_ARCH)) {
      for (let nr = 0; nr < 1024; nr++) {
        for (const abiBit of [0, X32_BIT]) {
          for (const arg of ARGS) {
            const got = decide(tree, arch, nr | abiBit, arg);
            decisions.add(got);
            if (got !== decide(list, arch, nr | abiBit, arg)) {
              expect({ arch, nr: nr | abiBit, arg, tree: got }).toEqual({ arch, nr: nr | abiBit, arg, tree: decide(list, arch, nr | abiBit, arg) });
            }
          }
        }
      }
    }
    // allow, EPERM, ENOSYS and kill for a foreign ABI all occur: the comparison saw real decisions.
    expect([...decisions].sort((p, q) => p - q)).toEqual([0, 0x00050001, 0x00050026, 0x7fff0000]);

    // And independently of the layouts agreeing: each listed call is EPERM on both x86 ABIs.
    const numbers = JSON.parse(
      execFileSync(
        SECCOMP_PYTHON,
        ['-c', 'import json,sys,seccomp; print(json.dumps({a: {n: seccomp.resolve_syscall(getattr(seccomp.Arch, a), n) for n in sys.argv[1:]} for a in ("X86_64", "X86")}))', ...SECCOMP_POLICY.eperm],
        { encoding: 'utf8' },
      ),
    ) as Record<'X86_64' | 'X86', Record<string, number>>;
    for (const [abi, arch] of [['X86_64', AUDIT_ARCH.x86_64], ['X86', AUDIT_ARCH.i386]] as const) {
      for (const [name, nr] of Object.entries(numbers[abi])) {
        if (nr < 0) continue; // not a call on this ABI (libseccomp's pseudo-numbers are negative)
        expect([abi, name, decide(tree, arch, nr, 0n)]).toEqual([abi, name, 0x00050001]);
      }
    }
  }, 60_000);
});
