import { describe, expect, it } from 'vitest';
import { hostCaps, jobNeeds, unmet } from './needs.js';

describe('job needs and host capabilities', () => {
  const offer = (over: Partial<Parameters<typeof hostCaps>[0]> = {}) =>
    hostCaps({ drivers: ['bwrap', 'docker'], best: { none: 'container', egress: 'namespaces' }, images: ['python'], labels: { region: 'eu' }, ...over });

  it('a plain auto job needs nothing, so any host with a driver takes it', () => {
    expect(jobNeeds({ driver: 'auto', network: 'none' })).toEqual([]);
  });

  it('names every need of a job that asks for more', () => {
    expect(jobNeeds({ driver: 'gvisor', network: 'none', image: 'python', hostLabels: { gpu: 'a100', region: 'eu' } })).toEqual([
      'driver:gvisor',
      'image:python',
      'label:gpu=a100',
      'label:region=eu',
    ]);
    expect(jobNeeds({ driver: 'auto', network: 'egress' })).toEqual(['run:egress:namespaces']);
    expect(jobNeeds({ driver: 'auto', network: 'none', isolation: 'gvisor' })).toEqual(['run:none:gvisor']);
  });

  it('an isolation covers every weaker one, per network mode', () => {
    const caps = offer();
    expect(unmet(['run:none:namespaces', 'run:none:container', 'run:egress:namespaces'], caps)).toEqual([]);
    expect(unmet(['run:none:gvisor', 'run:egress:container'], caps)).toEqual(['run:none:gvisor', 'run:egress:container']);
  });

  it('says what is missing: a driver, an image, a label value', () => {
    const needs = jobNeeds({ driver: 'gvisor', network: 'none', image: 'node', hostLabels: { region: 'us' } });
    expect(unmet(needs, offer())).toEqual(['driver:gvisor', 'image:node', 'label:region=us']);
    expect(unmet(needs, offer({ drivers: ['gvisor'], images: ['node'], labels: { region: 'us', gpu: 'x' } }))).toEqual([]);
  });

  it('a host with no driver up offers no way to run anything', () => {
    expect(offer({ drivers: [], best: {} }).filter((c) => c.startsWith('driver:') || c.startsWith('run:'))).toEqual([]);
  });
});
