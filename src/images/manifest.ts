import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** `<images_dir>/<name>/image.json`: what was built, so an unchanged recipe is recognised. */
export interface ImageManifest {
  name: string;
  hash: string;
  parent: string | null;
  built_at: string;
  size_bytes: number;
  /** `paddock/<name>:<hash12>` once imported into a Docker Engine, else null. */
  docker_image: string | null;
}

export const MANIFEST_FILE = 'image.json';

/** The manifest of an image dir, or undefined if there is none or it is unreadable (then it is rebuilt). */
export async function readManifest(imageDir: string): Promise<ImageManifest | undefined> {
  try {
    const data = JSON.parse(await readFile(path.join(imageDir, MANIFEST_FILE), 'utf8')) as Partial<ImageManifest>;
    if (typeof data.name !== 'string' || typeof data.hash !== 'string') return undefined;
    return {
      name: data.name,
      hash: data.hash,
      parent: data.parent ?? null,
      built_at: data.built_at ?? '',
      size_bytes: data.size_bytes ?? 0,
      docker_image: data.docker_image ?? null,
    };
  } catch {
    return undefined;
  }
}

/** Written to a temp file and renamed, so a reader never sees half a manifest. */
export async function writeManifest(imageDir: string, manifest: ImageManifest): Promise<void> {
  const file = path.join(imageDir, MANIFEST_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o644 });
  await rename(tmp, file);
}
