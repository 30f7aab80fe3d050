#!/usr/bin/env node
// `npm run bench -- <name> [args...]` builds src/ to dist/ (tsc) and runs bench/<name>.mjs.
// Benches are plain ESM that import the compiled runner from ../dist, so no TS loader is needed.
// With no name, lists the available benches. Build output goes to stderr so a bench's
// last stdout line stays its JSON result.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = path.join(root, 'bench');
const available = existsSync(benchDir)
  ? readdirSync(benchDir)
      .filter((f) => f.endsWith('.mjs'))
      .map((f) => f.slice(0, -'.mjs'.length))
      .sort()
  : [];

const [name, ...rest] = process.argv.slice(2);
if (!name || name === '--list' || name === '-h' || name === '--help') {
  console.log(`usage: npm run bench -- <name>\navailable benches:\n${available.map((b) => `  ${b}`).join('\n') || '  (none)'}`);
  process.exit(0);
}
if (!available.includes(name)) {
  console.error(`unknown bench "${name}"; available: ${available.join(', ') || '(none)'}`);
  process.exit(2);
}

if (process.env.BENCH_SKIP_BUILD !== '1') {
  console.error('bench: building (npm run build)...');
  const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: ['ignore', 2, 2] });
  if (build.error || build.status !== 0) {
    console.error(`bench: build failed (${build.error?.message ?? `exit ${build.status}`})`);
    process.exit(1);
  }
}

const run = spawnSync(process.execPath, [path.join(benchDir, `${name}.mjs`), ...rest], { cwd: root, stdio: 'inherit' });
if (run.error) {
  console.error(`bench: cannot run ${name}: ${run.error.message}`);
  process.exit(1);
}
process.exit(run.status ?? (run.signal ? 1 : 0));
