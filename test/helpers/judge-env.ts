import { existsSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { IMAGES_DIR } from './agent-env.js';
import { dockerMissing } from './docker.js';
import { startTestRunner, type TestRunner } from './runner.js';
import { hostUser } from './sandbox.js';

/** Why judge jobs cannot run here: no judge image (scripts/build-images.sh builds it). */
export function judgeImageMissing(): string | undefined {
  return existsSync(path.join(IMAGES_DIR, 'judge', 'rootfs', 'usr', 'bin', 'javac'))
    ? undefined
    : `the judge image is not built in ${IMAGES_DIR} (bash scripts/build-images.sh)`;
}

export interface JudgeDriverCase {
  driver: 'bwrap' | 'docker' | 'gvisor';
  missing: string | undefined;
  flags: Record<string, unknown>;
}

/** The drivers judge tests run on, each with a uid range of its own (`base` keeps files apart from other suites). */
export async function judgeDrivers(base: { bwrapUid: number; dockerUid: number }): Promise<JudgeDriverCase[]> {
  const image = judgeImageMissing();
  const noDocker = await dockerMissing();
  const docker = (name: 'docker' | 'gvisor', offset: number) => ({
    driver: name,
    missing: image ?? noDocker,
    flags: { drivers: [name], docker: { uid_range_start: base.dockerUid + offset, uid_range_size: 20 } },
  });
  return [
    { driver: 'bwrap', missing: image, flags: { ...hostUser(base.bwrapUid) } },
    docker('docker', 0),
    docker('gvisor', 40),
  ];
}

export async function startJudgeRunner(flags: Record<string, unknown>): Promise<TestRunner> {
  return startTestRunner({ images_dir: IMAGES_DIR, ...flags });
}

/** Submits a judge job and waits for its end. */
export async function judge(runner: TestRunner, spec: Record<string, unknown>, waitMs = 120_000): Promise<any> {
  const res = await runner.api('POST', `/v1/jobs?wait=true&wait_ms=${waitMs}`, { kind: 'judge', ...spec });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

export const SUM_TESTS = [
  { name: 'small', stdin: '2 3\n', expected_output: '5\n' },
  { name: 'negative', stdin: '-4 1\n', expected_output: '-3\n' },
  { name: 'big', stdin: '1000000000 1000000000\n', expected_output: '2000000000\n' },
];

/** "Sum two numbers" in every language. */
export const SUM_PROGRAMS: Record<string, string> = {
  python: 'a, b = map(int, input().split())\nprint(a + b)\n',
  javascript: "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\nconsole.log(a + b);\n",
  c: '#include <stdio.h>\nint main(void) { long a, b; scanf("%ld %ld", &a, &b); printf("%ld\\n", a + b); return 0; }\n',
  cpp: '#include <iostream>\nint main() { long a, b; std::cin >> a >> b; std::cout << a + b << "\\n"; }\n',
  java: 'import java.util.Scanner;\npublic class Main { public static void main(String[] x) { Scanner s = new Scanner(System.in); System.out.println(s.nextLong() + s.nextLong()); } }\n',
  bash: 'read a b\necho $((a + b))\n',
};
