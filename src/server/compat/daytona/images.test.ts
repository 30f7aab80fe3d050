import { describe, expect, it } from 'vitest';
import { imageOfDockerfile, paddockImage } from './images.js';

describe('Daytona snapshots and images as Paddock images', () => {
  it('maps none and Daytona’s defaults to base, Python spellings to python, paddock/<name> to <name>', () => {
    for (const s of [undefined, '', 'daytonaio/sandbox:0.4.3', 'daytona-medium']) expect(paddockImage(s)).toBe('base');
    for (const s of ['python', 'python:3.12-slim', 'paddock/python', 'docker.io/library/python:3']) expect(paddockImage(s)).toBe('python');
    expect(paddockImage('paddock/node:latest')).toBe('node');
    expect(paddockImage('judge')).toBe('judge');
  });

  it('refuses names that are no image reference', () => {
    expect(() => paddockImage('UPPER CASE')).toThrow(/not an image name/);
    expect(() => paddockImage('--privileged')).toThrow(/not an image name/);
  });

  it('takes a lone FROM line (Image.base) and refuses a Dockerfile that builds', () => {
    expect(imageOfDockerfile('FROM python:3.12\n')).toBe('python');
    expect(imageOfDockerfile('# base\n\nFROM paddock/base AS b\n')).toBe('base');
    expect(() => imageOfDockerfile('FROM python:3.12\nRUN pip install numpy\n')).toThrow(/not supported on this runner/);
    expect(() => imageOfDockerfile('')).toThrow(/not supported on this runner/);
  });
});
