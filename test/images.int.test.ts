import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { buildImage, type BuildResult } from '../src/images/builder.js';
import { getImage, listImages, removeImage } from '../src/images/catalog.js';
import { dockerReachable, HASH_LABEL } from '../src/images/docker-import.js';
import type { BuildProgress } from '../src/images/progress.js';
import { BUILTIN_RECIPES, type ImageRecipe } from '../src/images/recipe.js';
import { startTestRunner, type TestRunner } from './helpers/runner.js';
import { hostUser, removeRunnerState, submitJob } from './helpers/sandbox.js';

// Real images, built with debootstrap into the shared cache that CI's
// scripts/build-images.sh fills, so a warm run takes seconds and a cold one
// a minute or two. The cache is shared on purpose: the builder's hash check and
// lock are part of what is tested.
const IMAGES_DIR = process.env.PADDOCK_IMAGES_DIR ?? '/var/cache/paddock/images';
// Mirror and suite are part of the hash: take them as scripts/build-images.sh does (config + env).
const SOURCE = loadConfig().images;
const BUILD_TIMEOUT_MS = 15 * 60_000;
const UID = 61207;

function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'building images needs root';
  for (const tool of ['debootstrap', 'unshare', 'chroot']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed`;
    }
  }
  return undefined;
}

// Locally a host without root or debootstrap skips these tests; in CI that
// would silently test nothing, so there a missing prerequisite fails them.
const missing = missingPrerequisite();
const skip = !!missing && process.env.CI !== 'true';

describe.skipIf(skip)('images', () => {
  const built = new Map<string, BuildResult>();
  const progress: BuildProgress[] = [];
  let runner: TestRunner | undefined;

  beforeAll(async () => {
    if (missing) throw new Error(`image tests cannot run: ${missing}`);
    const onProgress = (p: BuildProgress) => progress.push(p);
    for (const name of ['base', 'python']) {
      built.set(name, await buildImage(name, { imagesDir: IMAGES_DIR, ...SOURCE, docker: docker(), onProgress }));
    }
    runner = await startTestRunner({ images_dir: IMAGES_DIR, ...hostUser(UID) });
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await runner?.close();
    if (runner) removeRunnerState(runner.dataDir);
  });

  it('builds base and python with a manifest, reporting progress as it goes', async () => {
    for (const name of ['base', 'python']) {
      const r = built.get(name)!;
      expect(r.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(existsSync(`${IMAGES_DIR}/${name}/rootfs/etc/debian_version`)).toBe(true);
      const info = await getImage(IMAGES_DIR, name);
      expect(info).toMatchObject({ name, hash: r.hash, parent: name === 'python' ? 'base' : null });
      expect(info.size_bytes).toBeGreaterThan(10_000_000);
      const phases = progress.filter((p) => p.image === name).map((p) => p.phase);
      expect(phases.at(-1)).toBe('done');
      // Only a real build has tool output to show; a cached one says so.
      if (r.built) {
        const tool = name === 'base' ? /^I: Retrieving / : /^(Unpacking|Setting up) /;
        expect(progress.some((p) => p.image === name && tool.test(p.message))).toBe(true);
      } else {
        expect(phases).toContain('cached');
      }
    }
    // Nothing half-built is left next to the images.
    const names = (await listImages(IMAGES_DIR)).map((i) => i.name);
    expect(names).toEqual(expect.arrayContaining(['base', 'python']));
    expect(execFileSync('ls', ['-A', IMAGES_DIR], { encoding: 'utf8' })).not.toMatch(/^\.build-/m);
  });

  it('recognises an unchanged recipe: a second build is a quick no-op with the same hash', async () => {
    const started = Date.now();
    const again = await buildImage('python', { imagesDir: IMAGES_DIR, ...SOURCE });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(again.built).toBe(false);
    expect(again.hash).toBe(built.get('python')!.hash);
    expect(again.built_at).toBe((await getImage(IMAGES_DIR, 'python')).built_at);
  });

  it('runs a bwrap job in the python image', async () => {
    const job = await submitJob(runner!.api, {
      ...bwrap('python'),
      script: "python3 -c 'print(1+1)'; id -u; echo $HOME; stat -c %a /tmp",
    });
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
    expect(job.result!.stdout.split('\n')).toEqual(['2', '10001', '/work', '1777', '']);
  });

  it("sees the image's own /etc/debian_version, and only what the image has", async () => {
    const version = readFileSync(`${IMAGES_DIR}/python/rootfs/etc/debian_version`, 'utf8');
    const job = await submitJob(runner!.api, { ...bwrap('python'), command: ['cat', '/etc/debian_version'] });
    expect(job.result?.stdout).toBe(version);
    // base has no python3: the job runs in the image, not on the host's /usr.
    const bare = await submitJob(runner!.api, { ...bwrap('base'), script: 'command -v python3 || echo none' });
    expect(bare.result?.stdout).toBe('none\n');
  });

  it('rejects a job with an unknown image: 422 image_not_found naming the images that exist', async () => {
    const res = await runner!.api('POST', '/v1/jobs', { kind: 'command', ...bwrap('no-such'), command: ['true'] });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('image_not_found');
    expect(res.body.detail).toMatch(/no-such/);
    expect(res.body.available).toEqual(expect.arrayContaining(['base', 'python']));
    expect(res.body.available.some((n: string) => n.startsWith('.'))).toBe(false);
  });

  it('fails a build naming the step and its output, leaving the previous image in place', async () => {
    const name = `paddock-test-${process.pid}`;
    const recipe = (steps: string[]): ImageRecipe[] => [
      BUILTIN_RECIPES.find((r) => r.name === 'base')!,
      { name, parent: 'base', packages: [], steps, description: 'test' },
    ];
    try {
      // Two builds at once: the lock lets one build and the other find it done.
      const v1 = recipe(['echo v1 > /version']);
      const build = () => buildImage(name, { imagesDir: IMAGES_DIR, ...SOURCE, recipes: v1 });
      const both = await Promise.all([build(), build()]);
      expect(both.map((r) => r.built).sort()).toEqual([false, true]);
      expect(both[0]!.hash).toBe(both[1]!.hash);

      const v2 = recipe(['echo v2 > /version', 'echo "no such thing" >&2; exit 3']);
      const failing = buildImage(name, { imagesDir: IMAGES_DIR, ...SOURCE, recipes: v2 });
      await expect(failing).rejects.toMatchObject({
        code: 'image_build_failed',
        details: { step: 'step 2/2', exit_code: 3 },
      });
      await expect(failing).rejects.toThrow(/step 2\/2 exited with 3; last output:\n.*no such thing/);
      expect(readFileSync(`${IMAGES_DIR}/${name}/rootfs/version`, 'utf8')).toBe('v1\n');
      expect((await getImage(IMAGES_DIR, name)).hash).toBe(both[0]!.hash);
      const left = execFileSync('ls', ['-A', IMAGES_DIR], { encoding: 'utf8' });
      expect(left).not.toMatch(new RegExp(`^\\.(build|lock)-${name}`, 'm'));
    } finally {
      await removeImage(IMAGES_DIR, name).catch(() => undefined);
    }
    await expect(getImage(IMAGES_DIR, name)).rejects.toMatchObject({ code: 'image_not_found' });
  });

  it('imports base into Docker as paddock/base:latest with the hash label (when dockerd answers)', async (ctx) => {
    const client = docker();
    const unreachable = client ? await dockerReachable(client) : 'no socket';
    if (!client || unreachable) return ctx.skip(`Docker Engine not reachable: ${unreachable}`);
    const hash = built.get('base')!.hash;
    const latest = await client.getImage('paddock/base:latest').inspect();
    expect(latest.Config.Labels?.[HASH_LABEL]).toBe(hash);
    const pinned = await client.getImage(`paddock/base:${hash.slice(0, 12)}`).inspect();
    expect(pinned.Id).toBe(latest.Id);
    expect((await getImage(IMAGES_DIR, 'base')).docker_image).toBe(`paddock/base:${hash.slice(0, 12)}`);
  });
});

/** A job spec pinned to bwrap: with more drivers configured, `auto` could pick another. */
const bwrap = (image: string) => ({ driver: 'bwrap', image });

function docker(): Dockerode | undefined {
  return existsSync('/var/run/docker.sock') ? new Dockerode({ socketPath: '/var/run/docker.sock' }) : undefined;
}
