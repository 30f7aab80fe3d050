import { describe, expect, it } from 'vitest';
import {
  ACTIONS_RUNNER,
  BUILTIN_RECIPES,
  canonicalRecipe,
  chainHashes,
  getRecipe,
  type ImageRecipe,
  recipeChain,
  recipeHash,
} from './recipe.js';

const source = { mirror: 'http://deb.debian.org/debian', suite: 'bookworm' };
const base: ImageRecipe = { name: 'base', packages: ['ca-certificates'], steps: ['true'], description: 'root' };
const py: ImageRecipe = { name: 'py', parent: 'base', packages: ['python3'], description: 'child' };
const recipes = [base, py];

describe('recipe hashes', () => {
  it('are stable: the same recipe and source give the same hash, run after run', () => {
    const a = chainHashes('py', source, recipes);
    const b = chainHashes('py', { ...source }, [{ ...base }, { ...py, packages: ['python3'] }]);
    expect(a).toEqual(b);
    expect(a.get('py')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('ignore the description and package order, but not step order', () => {
    const h = (r: ImageRecipe) => recipeHash(r, source);
    expect(h({ ...base, description: 'reworded' })).toBe(h(base));
    expect(h({ ...base, packages: ['b', 'a', 'a'] })).toBe(h({ ...base, packages: ['a', 'b'] }));
    expect(h({ ...base, steps: ['a', 'b'] })).not.toBe(h({ ...base, steps: ['b', 'a'] }));
  });

  it('change when packages, steps, mirror or suite change', () => {
    const h0 = recipeHash(base, source);
    expect(recipeHash({ ...base, packages: ['ca-certificates', 'curl'] }, source)).not.toBe(h0);
    expect(recipeHash({ ...base, steps: ['false'] }, source)).not.toBe(h0);
    expect(recipeHash(base, { ...source, mirror: 'http://ftp.de.debian.org/debian' })).not.toBe(h0);
    expect(recipeHash(base, { ...source, suite: 'trixie' })).not.toBe(h0);
    // A trailing slash names the same mirror.
    expect(recipeHash(base, { ...source, mirror: `${source.mirror}/` })).toBe(h0);
  });

  it('of a child change when its parent changes, or when it gets another parent', () => {
    const before = chainHashes('py', source, recipes).get('py');
    const changedParent = chainHashes('py', source, [{ ...base, packages: ['curl'] }, py]).get('py');
    expect(changedParent).not.toBe(before);
    const other: ImageRecipe = { ...base, name: 'other', packages: ['curl'] };
    expect(chainHashes('py', source, [base, other, { ...py, parent: 'other' }]).get('py')).not.toBe(before);
  });

  it('need the parent hash for a child', () => {
    expect(() => recipeHash(py, source)).toThrow(/parent/);
  });
});

describe('recipe chains', () => {
  it('list parents before children, so parents are built first', () => {
    expect(recipeChain('agent').map((r) => r.name)).toEqual(['base', 'node', 'agent']);
    expect(recipeChain('python').map((r) => r.name)).toEqual(['base', 'python']);
    expect(recipeChain('base').map((r) => r.name)).toEqual(['base']);
    expect([...chainHashes('agent', source).keys()]).toEqual(['base', 'node', 'agent']);
  });

  it('share the parent hash: every child of base sees the same base', () => {
    const python = chainHashes('python', source);
    const build = chainHashes('build', source);
    expect(python.get('base')).toBe(build.get('base'));
    expect(python.get('python')).not.toBe(build.get('build'));
  });

  it('reject unknown names and parent cycles with validation_failed', () => {
    expect(() => getRecipe('nope')).toThrow(expect.objectContaining({ code: 'validation_failed' }));
    expect(() => getRecipe('nope')).toThrow(/known: base, python/);
    const a: ImageRecipe = { name: 'a', parent: 'b', packages: [], description: '' };
    const b: ImageRecipe = { name: 'b', parent: 'a', packages: [], description: '' };
    expect(() => recipeChain('a', [a, b])).toThrow(/cycle/);
    expect(() => recipeChain('py', [py])).toThrow(/no image recipe named "base"/);
  });
});

describe('built-in recipes', () => {
  it('have unique names and known parents', () => {
    const names = BUILTIN_RECIPES.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    for (const r of BUILTIN_RECIPES) if (r.parent) expect(names).toContain(r.parent);
    expect(names).toEqual(expect.arrayContaining(['base', 'python', 'node', 'build', 'agent']));
  });

  it('actions: the official runner, pinned by version and SHA-256, checked before it is unpacked', () => {
    const steps = getRecipe('actions').steps!.join('\n');
    expect(steps).toContain(`/download/v${ACTIONS_RUNNER.version}/actions-runner-linux-x64-${ACTIONS_RUNNER.version}.tar.gz`);
    expect(ACTIONS_RUNNER.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(steps.indexOf('sha256sum -c')).toBeGreaterThan(0);
    expect(steps.indexOf('sha256sum -c')).toBeLessThan(steps.indexOf('tar xzf'));
  });

  it('install Claude Code without dropping its optional native binary', () => {
    const steps = getRecipe('agent').steps!.join('\n');
    expect(steps).toContain('@anthropic-ai/claude-code@2.1.197');
    expect(steps).not.toMatch(/--no-optional|--omit[= ]optional/);
    expect(steps).toContain('npm_config_update_notifier=false');
  });

  it('canonical form leaves out name and description', () => {
    expect(canonicalRecipe(base)).not.toContain('root');
    expect(JSON.parse(canonicalRecipe(py))).toEqual({ parent: 'base', packages: ['python3'], steps: [] });
  });

  it('preparations before the packages are part of the hash, and absent ones change nothing', () => {
    expect(canonicalRecipe({ ...py, before: [] })).toBe(canonicalRecipe(py));
    const h = (r: ImageRecipe) => recipeHash(r, source, 'p'.repeat(64));
    expect(h({ ...py, before: ['mkdir -p /x'] })).not.toBe(h(py));
    expect(getRecipe('judge').before).toEqual(['mkdir -p /usr/share/man/man1']);
  });
});
