import { createHash } from 'node:crypto';
import { PaddockError } from '../errors.js';
import { SANDBOX_UID } from '../sandbox/bwrap/args.js';

/**
 * What an image is made of. A root recipe (no parent) is a debootstrap of the
 * configured suite with `packages` included; a child starts from a copy of its
 * parent's rootfs and apt-installs `packages`. `steps` then run as root in the chroot.
 */
export interface ImageRecipe {
  name: string;
  parent?: string;
  packages: string[];
  /** Run as root in the chroot before the packages are installed (a child recipe's preparations). */
  before?: string[];
  steps?: string[];
  description: string;
  /** False: not a sandbox image, so not imported into Docker (the qemu driver's kernel). */
  docker?: false;
}

/** Where the packages come from; part of every hash, so switching mirror or suite rebuilds. */
export interface RecipeSource {
  mirror: string;
  suite: string;
}

/**
 * Bumped whenever the builder changes what it puts into a rootfs (debootstrap
 * flags, cleanup, files it writes), so images built by an older builder are rebuilt.
 */
export const BUILDER_VERSION = 1;

/** The official runner the `actions` image carries (github.com/actions/runner releases). */
export const ACTIONS_RUNNER = { version: '2.324.0', sha256: 'e8e24a3477da17040b4d6fa6d34c6ecb9a2879e800aa532518ec21e49e21d7b4' };

export const BUILTIN_RECIPES: readonly ImageRecipe[] = [
  {
    name: 'base',
    packages: ['ca-certificates'],
    description: 'Debian minbase with ca-certificates and the sandbox user (uid 10001, home /work)',
    steps: [
      // Like debian:*-slim: no docs, man pages or translations in this image or any child of it.
      `cat > /etc/dpkg/dpkg.cfg.d/paddock-slim <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
EOF
find /usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf /usr/share/man/* /usr/share/groff/* /usr/share/info/* /usr/share/lintian/* /usr/share/locale/*`,
      `groupadd --gid ${SANDBOX_UID} sandbox
useradd --uid ${SANDBOX_UID} --gid ${SANDBOX_UID} --home-dir /work --no-create-home --shell /bin/sh sandbox
mkdir -p /work && chown ${SANDBOX_UID}:${SANDBOX_UID} /work && chmod 0755 /work
chmod 1777 /tmp`,
      // Sandboxes bind their own /etc/hosts and /etc/hostname over these, which needs them to exist;
      // debootstrap copies the build host's hostname, which does not belong in an image.
      `printf '127.0.0.1 localhost\\n::1 localhost\\n' > /etc/hosts
echo sandbox > /etc/hostname`,
    ],
  },
  {
    name: 'python',
    parent: 'base',
    packages: ['python3'],
    description: 'base + Debian python3',
  },
  {
    name: 'node',
    parent: 'base',
    packages: ['nodejs', 'npm'],
    description: 'base + Debian nodejs and npm',
  },
  {
    name: 'build',
    parent: 'base',
    packages: ['gcc', 'g++', 'make', 'libc6-dev'],
    description: 'base + gcc, g++, make and libc headers',
  },
  {
    name: 'judge',
    parent: 'base',
    // One image for every judge language: one warm-pool class per limits, one copy on disk (src/judge/languages.ts).
    packages: ['python3', 'nodejs', 'gcc', 'g++', 'libc6-dev', 'openjdk-17-jdk-headless'],
    // base excludes man pages, so man1 is missing, and the JRE's postinst links its man page there.
    before: ['mkdir -p /usr/share/man/man1'],
    description: 'base + python3, nodejs, gcc, g++ and OpenJDK 17 (headless): the judge languages (bash is in base)',
    steps: ['python3 --version && node --version && gcc --version && g++ --version && javac -version && java -version && bash --version'],
  },
  {
    name: 'agent',
    parent: 'node',
    packages: ['git'],
    description: 'node + git + Claude Code',
    steps: [
      // The CLI ships its native binary through an optional dependency (~245 MB):
      // --no-optional/--omit=optional would leave a claude that cannot start.
      `export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
npm install -g @anthropic-ai/claude-code@2.1.197
npm cache clean --force
# npm 9 installs both the glibc and the musl build (~230 MB each); the postinstall
# hard-links the glibc one into bin/, so on Debian the musl one is dead weight.
rm -rf /usr/local/lib/node_modules/@anthropic-ai/claude-code/node_modules/@anthropic-ai/claude-code-linux-*-musl
claude --version`,
    ],
  },
  {
    name: 'actions',
    parent: 'base',
    // What the runner's bin/installdependencies.sh installs on Debian 12, and what jobs expect to find.
    packages: ['curl', 'git', 'tar', 'gzip', 'jq', 'libicu72', 'libkrb5-3', 'zlib1g', 'liblttng-ust1', 'libssl3'],
    description: `base + GitHub's Actions runner ${ACTIONS_RUNNER.version} in /home/runner (owned by the sandbox user): ephemeral runners, src/actions/`,
    steps: [
      // Pinned by version and SHA-256; github.com must be reachable while the image is built.
      `cd /tmp
curl -fsSL -o runner.tgz https://github.com/actions/runner/releases/download/v${ACTIONS_RUNNER.version}/actions-runner-linux-x64-${ACTIONS_RUNNER.version}.tar.gz
echo "${ACTIONS_RUNNER.sha256}  runner.tgz" | sha256sum -c -
mkdir -p /home/runner
tar xzf runner.tgz -C /home/runner
rm runner.tgz
chown -R ${SANDBOX_UID}:${SANDBOX_UID} /home/runner
test -x /home/runner/run.sh`,
    ],
  },
  {
    name: 'vm-kernel',
    parent: 'base',
    packages: [],
    docker: false,
    description: "Debian's kernel and modules, unpacked in /opt/paddock-kernel: the qemu driver's guest kernel (not a sandbox image)",
    steps: [
      // Downloaded and unpacked, not installed: the guest needs the files, not initramfs-tools or a bootloader.
      `apt-get update -qq
cd /tmp
pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
test -n "$pkg"
apt-get download -q "$pkg"
mkdir -p /opt/paddock-kernel
dpkg-deb -x "$pkg"_*.deb /opt/paddock-kernel
rm -f "$pkg"_*.deb
ls /opt/paddock-kernel/boot/vmlinuz-*`,
    ],
  },
];

const IMAGE_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export function isValidImageName(name: string): boolean {
  return IMAGE_NAME.test(name);
}

/** Looks a recipe up by name; an unknown name is bad input, so the message lists what exists. */
export function getRecipe(name: string, recipes: readonly ImageRecipe[] = BUILTIN_RECIPES): ImageRecipe {
  const recipe = recipes.find((r) => r.name === name);
  if (!recipe) {
    const known = recipes.map((r) => r.name).join(', ');
    throw new PaddockError('validation_failed', `no image recipe named "${name}" (known: ${known})`, { image: name });
  }
  return recipe;
}

/** The recipe and its ancestors, root first: the order they must be built in. */
export function recipeChain(name: string, recipes: readonly ImageRecipe[] = BUILTIN_RECIPES): ImageRecipe[] {
  const chain: ImageRecipe[] = [];
  let next: ImageRecipe | undefined = getRecipe(name, recipes);
  while (next) {
    const r: ImageRecipe = next;
    if (chain.some((c) => c.name === r.name)) {
      throw new PaddockError('validation_failed', `image recipe "${name}" has a parent cycle through "${r.name}"`);
    }
    chain.unshift(r);
    next = r.parent ? getRecipe(r.parent, recipes) : undefined;
  }
  return chain;
}

/**
 * The parts of a recipe that decide what ends up in the rootfs, in a fixed key
 * order. `name` and `description` are left out on purpose: rewording a
 * description must not trigger a multi-minute rebuild. Package order does not
 * matter to apt, so packages are sorted and deduplicated; step order does matter.
 */
export function canonicalRecipe(recipe: ImageRecipe): string {
  return JSON.stringify({
    parent: recipe.parent ?? null,
    packages: [...new Set(recipe.packages)].sort(),
    // Only when present, so recipes without it keep the hashes (and the cached images) they had.
    ...(recipe.before?.length ? { before: recipe.before } : {}),
    steps: recipe.steps ?? [],
  });
}

/** Hash of one recipe given its parent's hash (undefined for a root recipe). */
export function recipeHash(recipe: ImageRecipe, source: RecipeSource, parentHash?: string): string {
  if (recipe.parent && !parentHash) throw new Error(`recipe ${recipe.name} needs its parent's hash`);
  return createHash('sha256')
    .update(
      JSON.stringify({
        builder: BUILDER_VERSION,
        mirror: source.mirror.replace(/\/+$/, ''),
        suite: source.suite,
        parent_hash: parentHash ?? null,
        recipe: canonicalRecipe(recipe),
      }),
    )
    .digest('hex');
}

/** Hashes of a recipe and all its ancestors, keyed by name. */
export function chainHashes(
  name: string,
  source: RecipeSource,
  recipes: readonly ImageRecipe[] = BUILTIN_RECIPES,
): Map<string, string> {
  const hashes = new Map<string, string>();
  for (const r of recipeChain(name, recipes)) {
    hashes.set(r.name, recipeHash(r, source, r.parent ? hashes.get(r.parent) : undefined));
  }
  return hashes;
}
