import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type Dockerode from 'dockerode';
import { loadConfig } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { buildImage } from '../../images/builder.js';
import { listImages, removeImage } from '../../images/catalog.js';
import type { BuildProgress } from '../../images/progress.js';
import { getRecipe } from '../../images/recipe.js';
import { PaddockError } from '../../errors.js';
import { smokeJudgeImage } from '../../judge/image-smoke.js';
import { createLogger } from '../../util/log.js';
import { engineClient } from '../../sandbox/docker/engine.js';
import { printJson, printTable } from '../output.js';
import { configFlags, withConfigOptions } from './config-flags.js';

/** Image commands work on the images dir directly, like `token` works on the store: they are for the host's admin. */
function configFrom(opts: Record<string, unknown>): Config {
  return loadConfig({ file: opts.config as string | undefined, flags: configFlags(opts) });
}

/** A client only when the socket is there; whether the Engine answers is the builder's question. */
function dockerFor(config: Config): Dockerode | undefined {
  return existsSync(config.docker.socket) ? engineClient(config.docker.socket) : undefined;
}

export function formatBytes(n: number | null): string {
  if (n === null) return '-';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

const printProgress = (p: BuildProgress) => {
  process.stderr.write(`[${(p.elapsedMs / 1000).toFixed(1).padStart(6)}s] ${p.image} ${p.phase}: ${p.message}\n`);
};

/**
 * A judge image is checked by the command that built it: each language's smoke program, as the
 * runner runs it. Any that fails makes the build fail (the runner would refuse that language).
 */
async function smokeImage(config: Config): Promise<void> {
  process.stderr.write(`smoke-testing the judge languages in image ${config.judge.image}\n`);
  const r = await smokeJudgeImage(config, createLogger('silent'));
  printTable([
    ['LANGUAGE', 'VERSION', `SMOKE (${r.driver})`],
    ...r.languages.map((l) => [l.id, l.version ?? '-', l.healthy ? 'ok' : `FAILED: ${l.error ?? ''}`]),
  ]);
  const bad = r.languages.filter((l) => !l.healthy).map((l) => l.id);
  if (bad.length > 0) {
    throw new PaddockError('language_unhealthy', `the judge image ${config.judge.image} fails the smoke test of ${bad.join(', ')}; the runner would refuse submissions in them`, { languages: bad });
  }
}

export function imageCommand(program: Command): void {
  const image = program.command('image').description('build, list and remove sandbox images (Debian rootfs)');

  withConfigOptions(
    image
      .command('build')
      .description('build images and the parents they need; an unchanged recipe is a quick no-op')
      .argument('[names...]', 'built-in recipes: base, python, node, build, agent, judge', ['base'])
      .option('--force', 'rebuild the named images even if unchanged (parents stay cached)')
      .option('--smoke', "run the judge languages' smoke programs even if the judge image was cached")
      .option('--no-smoke', "skip them even if the judge image was built"),
  ).action(async (names: string[], opts) => {
    const config = configFrom(opts);
    for (const name of names) getRecipe(name); // a typo in the last name must not cost the minutes before it
    const docker = dockerFor(config);
    const rows: string[][] = [];
    let smoke = opts.smoke === true;
    for (const name of names) {
      const r = await buildImage(name, {
        imagesDir: config.images_dir,
        mirror: config.images.mirror,
        suite: config.images.suite,
        force: !!opts.force,
        docker,
        onProgress: printProgress,
      });
      if (r.built && name === config.judge.image && opts.smoke !== false) smoke = true;
      const how = r.built ? `built in ${(r.durationMs / 1000).toFixed(1)} s` : 'cached';
      rows.push([r.name, r.hash.slice(0, 12), formatBytes(r.size_bytes), how, r.docker_image ?? 'no docker image']);
    }
    printTable(rows);
    if (smoke && names.includes(config.judge.image)) await smokeImage(config);
  });

  withConfigOptions(image.command('ls').description('list built images').option('--json')).action(async (opts) => {
    const config = configFrom(opts);
    const images = await listImages(config.images_dir);
    if (opts.json) return printJson(images);
    if (images.length === 0) {
      process.stderr.write(`no images in ${config.images_dir}; build one with: paddock image build base\n`);
      return;
    }
    printTable([
      ['NAME', 'HASH', 'PARENT', 'SIZE', 'BUILT', 'DOCKER'],
      ...images.map((i) => [
        i.name,
        i.hash?.slice(0, 12) ?? '-',
        i.parent ?? '-',
        formatBytes(i.size_bytes),
        i.built_at ?? '-',
        i.docker_image ?? '-',
      ]),
    ]);
  });

  withConfigOptions(
    image.command('rm').description('remove an image and its paddock/<name> docker tags').argument('<name>'),
  ).action(async (name: string, opts) => {
    const config = configFrom(opts);
    const notes = await removeImage(config.images_dir, name, dockerFor(config));
    for (const note of notes) process.stdout.write(`${note}\n`);
  });
}
