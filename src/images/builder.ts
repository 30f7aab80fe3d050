import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rename } from 'node:fs/promises';
import path from 'node:path';
import type Dockerode from 'dockerode';
import { PaddockError } from '../errors.js';
import { CLEANUP_SCRIPT, withChroot } from './chroot.js';
import { ensureDockerImage } from './docker-import.js';
import { lockImage } from './lock.js';
import { type ImageManifest, readManifest, writeManifest } from './manifest.js';
import { type ProgressFn, type Reporter, reporterFor } from './progress.js';
import { BUILTIN_RECIPES, chainHashes, type ImageRecipe, recipeChain, type RecipeSource } from './recipe.js';
import { runLogged } from './run-logged.js';
import { removeTree, treeSize } from './tree.js';

export interface BuildOptions extends RecipeSource {
  imagesDir: string;
  /** Rebuild the named image even if its hash is unchanged (its parents stay cached). */
  force?: boolean;
  /** Import into this Engine too; unreachable or absent is only a progress note. */
  docker?: Dockerode | undefined;
  onProgress?: ProgressFn;
  recipes?: readonly ImageRecipe[];
}

export interface BuildResult extends ImageManifest {
  /** False when an image with the same hash was already there. */
  built: boolean;
  rootfs: string;
  durationMs: number;
}

/** Builds an image and any parent it needs, each only if its recipe hash changed. */
export async function buildImage(name: string, opts: BuildOptions): Promise<BuildResult> {
  const recipes = opts.recipes ?? BUILTIN_RECIPES;
  const chain = recipeChain(name, recipes);
  const hashes = chainHashes(name, opts, recipes);
  await mkdir(opts.imagesDir, { recursive: true, mode: 0o755 });
  // Sandboxes run as an unprivileged host uid that must be able to reach every rootfs.
  await chmod(opts.imagesDir, 0o755);
  let result: BuildResult | undefined;
  for (const recipe of chain) {
    const force = !!opts.force && recipe.name === name;
    result = await buildOne(recipe, hashes.get(recipe.name)!, { ...opts, force });
  }
  return result!;
}

async function buildOne(recipe: ImageRecipe, hash: string, opts: BuildOptions): Promise<BuildResult> {
  const start = Date.now();
  const report = reporterFor(recipe.name, opts.onProgress);
  const imageDir = path.join(opts.imagesDir, recipe.name);
  const rootfs = path.join(imageDir, 'rootfs');
  const current = async () => {
    const m = await readManifest(imageDir);
    return m && m.hash === hash && existsSync(rootfs) ? m : undefined;
  };

  let manifest = opts.force ? undefined : await current();
  let built = false;
  if (!manifest) {
    const unlock = await lockImage(opts.imagesDir, recipe.name, (pid) =>
      report('wait', `waiting for another build of ${recipe.name} (pid ${pid})`),
    );
    try {
      // Whoever held the lock may just have built this very hash.
      manifest = opts.force ? undefined : await current();
      if (!manifest) {
        manifest = await buildLocked(recipe, hash, imageDir, opts, report);
        built = true;
      } else {
        report('cached', `built meanwhile by another process (${hash.slice(0, 12)})`);
      }
    } finally {
      await unlock();
    }
  } else {
    report('cached', `up to date (${hash.slice(0, 12)})`);
  }

  const dockerImage = recipe.docker === false ? null : await ensureDockerImage(opts.docker, { name: recipe.name, hash, rootfs }, report);
  if (dockerImage !== manifest.docker_image && dockerImage !== null) {
    manifest = { ...manifest, docker_image: dockerImage };
    await writeManifest(imageDir, manifest);
  }
  report('done', built ? `built in ${((Date.now() - start) / 1000).toFixed(1)} s` : 'cached');
  return { ...manifest, built, rootfs, durationMs: Date.now() - start };
}

/**
 * Builds into `<imagesDir>/.build-<name>-<random>/rootfs` and swaps it in only
 * once every step has passed, so a failed or killed build never leaves a half
 * image where a sandbox could pick it up, and the previous image serves jobs
 * until the new one is complete. Caller holds the image's lock.
 */
async function buildLocked(
  recipe: ImageRecipe,
  hash: string,
  imageDir: string,
  opts: BuildOptions,
  report: Reporter,
): Promise<ImageManifest> {
  if (process.getuid?.() !== 0) {
    const why = `image ${recipe.name}: building an image needs root (debootstrap, chroot, mount)`;
    throw new PaddockError('image_build_failed', why, { image: recipe.name });
  }
  await removeLeftovers(opts.imagesDir, recipe.name, report);
  const work = await mkdtemp(path.join(opts.imagesDir, `.build-${recipe.name}-`));
  const next = path.join(work, 'rootfs');
  try {
    if (recipe.parent) {
      const parentRootfs = path.join(opts.imagesDir, recipe.parent, 'rootfs');
      report('copy', `copying ${recipe.parent}'s rootfs`);
      await runLogged(['cp', '-a', '--', parentRootfs, next], {
        image: recipe.name,
        step: 'copy parent rootfs',
        phase: 'copy',
        report,
      });
    } else {
      report('bootstrap', `debootstrap ${opts.suite} from ${opts.mirror}`);
      const include = recipe.packages.length ? [`--include=${recipe.packages.join(',')}`] : [];
      await runLogged(['debootstrap', '--variant=minbase', ...include, opts.suite, next, opts.mirror], {
        image: recipe.name,
        step: 'debootstrap',
        phase: 'bootstrap',
        report,
      });
    }
    await withChroot(recipe.name, next, report, async (chroot) => {
      for (const [i, script] of (recipe.before ?? []).entries()) {
        await chroot.run(`before ${i + 1}/${recipe.before!.length}`, 'steps', script);
      }
      if (recipe.parent && recipe.packages.length) {
        await chroot.run('apt-get update', 'apt', 'apt-get update');
        const pkgs = recipe.packages.join(' ');
        await chroot.run('apt-get install', 'apt', `apt-get install -y --no-install-recommends ${pkgs}`);
      }
      const steps = recipe.steps ?? [];
      for (const [i, script] of steps.entries()) {
        report('steps', `step ${i + 1}/${steps.length}`);
        await chroot.run(`step ${i + 1}/${steps.length}`, 'steps', script);
      }
      await chroot.run('cleanup', 'cleanup', CLEANUP_SCRIPT);
    });
    await chmod(next, 0o755);

    const size = await treeSize(next);
    report('install', `installing as ${path.join(imageDir, 'rootfs')}`);
    await mkdir(imageDir, { recursive: true, mode: 0o755 });
    const rootfs = path.join(imageDir, 'rootfs');
    // rename() cannot replace a non-empty directory: move the old tree aside into
    // the work dir (removed below with it), then move the new one in. A job
    // starting in that instant gets image_not_found, not a mix of both.
    // A job still running on the old tree loses it when it is removed; rebuilds are rare.
    if (existsSync(rootfs)) await rename(rootfs, path.join(work, 'old-rootfs'));
    await rename(next, rootfs);
    const manifest: ImageManifest = {
      name: recipe.name,
      hash,
      parent: recipe.parent ?? null,
      built_at: new Date().toISOString(),
      size_bytes: size,
      docker_image: null,
    };
    await writeManifest(imageDir, manifest);
    return manifest;
  } catch (err) {
    if (err instanceof PaddockError) throw err;
    const message = `image ${recipe.name}: ${(err as Error).message}`;
    throw new PaddockError('image_build_failed', message, { image: recipe.name }, { cause: err });
  } finally {
    report('cleanup', 'removing the build directory');
    await removeTree(work);
  }
}

/** Build dirs of this image that a killed build left behind; only safe under the image's lock. */
async function removeLeftovers(imagesDir: string, name: string, report: Reporter): Promise<void> {
  const mine = new RegExp(`^\\.build-${name.replace(/[.]/g, '\\.')}-[A-Za-z0-9]{6}$`);
  for (const entry of await readdir(imagesDir)) {
    if (!mine.test(entry)) continue;
    report('cleanup', `removing ${entry} left by an interrupted build`);
    await removeTree(path.join(imagesDir, entry));
  }
}
