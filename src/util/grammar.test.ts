import { describe, expect, it } from 'vitest';
import { isCleanAbsolutePath, isImageReference } from './grammar.js';

describe('isImageReference', () => {
  it.each([
    'base',
    'python',
    'paddock/base:latest',
    'library/debian:12.5-slim',
    'localhost:5000/team/app:v1',
    'registry.example.com/a/b/c',
    '[::1]:5000/img',
    'a__b/c-d.e:tag_1',
    `img@sha256:${'a'.repeat(64)}`,
    `img:1.0@sha256:${'0'.repeat(64)}`,
  ])('accepts %s', (ref) => expect(isImageReference(ref)).toBe(true));

  it.each([
    '',
    '../127.0.0.1:1/x',
    '..',
    'a/../b',
    'a//b',
    '/abs',
    'UPPER',
    'a:b:c',
    'img:',
    'img@sha256:short',
    'img:-tag',
    'a b',
    'a\nb',
    'a\0b',
    'a?x=1',
    'a#frag',
    'a%2e%2e/b',
    'http://host/x',
    `${'a'.repeat(256)}`,
    `img:${'t'.repeat(129)}`,
  ])('refuses %j', (ref) => expect(isImageReference(ref)).toBe(false));
});

describe('isCleanAbsolutePath', () => {
  it('takes absolute paths without dot segments or control characters', () => {
    expect(isCleanAbsolutePath('/work/sub dir')).toBe(true);
    expect(isCleanAbsolutePath('/')).toBe(true);
    expect(isCleanAbsolutePath('work')).toBe(false);
    expect(isCleanAbsolutePath('/work/../etc')).toBe(false);
    expect(isCleanAbsolutePath('/work/./x')).toBe(false);
    expect(isCleanAbsolutePath('/work\nx')).toBe(false);
    expect(isCleanAbsolutePath('/work\0x')).toBe(false);
  });
});
