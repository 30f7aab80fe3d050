import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

// The client is a package entry of its own: it may borrow the server's types, never its code.
const dir = path.dirname(fileURLToPath(import.meta.url));
const ALLOWED_OUTSIDE = ['../errors.js', '../jobs/states.js'];

it('src/client imports at runtime only itself, node: built-ins, errors and job states', () => {
  const outside = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
    const text = readFileSync(path.join(dir, file), 'utf8');
    // `import type …` and `export type …` are erased; everything else is loaded.
    for (const m of text.matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?from\s+'([^']+)'/gms)) {
      const spec = m[1]!;
      if (spec.startsWith('./') || spec.startsWith('node:')) continue;
      outside.add(`${file}: ${spec}`);
    }
  }
  const bad = [...outside].filter((e) => !ALLOWED_OUTSIDE.includes(e.split(': ')[1]!));
  expect(bad).toEqual([]);
  expect(outside.size).toBeGreaterThan(0); // the scan does see imports
});
