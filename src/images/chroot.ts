import { existsSync } from 'node:fs';
import { copyFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Reporter } from './progress.js';
import { runLogged } from './run-logged.js';
import { mountsUnder } from './tree.js';

// The build host's CA bundle, visible in the chroot only while it builds (as
// /run/… , removed afterwards): downloads in steps (npm, curl) must trust what
// the host trusts — a proxy's CA on a corporate network — but the image keeps
// Debian's own trust store.
const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const BUILD_CA = '/run/paddock-build-ca.crt';
const PROXY_VARS = ['http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY'];

/**
 * A clean environment for commands in the chroot: of the caller's environment
 * only proxy settings pass (the build needs the host's way out), never tokens
 * or npm config.
 */
function chrootEnv(hostCa: boolean): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    LANG: 'C.UTF-8',
    DEBIAN_FRONTEND: 'noninteractive',
    APT_LISTCHANGES_FRONTEND: 'none',
    npm_config_update_notifier: 'false',
  };
  for (const v of PROXY_VARS) if (process.env[v]) env[v] = process.env[v];
  if (hostCa) {
    env.NODE_EXTRA_CA_CERTS = BUILD_CA; // node, npm
    env.SSL_CERT_FILE = BUILD_CA; // openssl-based tools
    env.GIT_SSL_CAINFO = BUILD_CA;
  }
  return env;
}

// Mounts /proc and /dev/pts for the command, then enters the chroot. It runs
// under `unshare --mount`, so these mounts exist only in a private mount
// namespace: the host never sees them, and the kernel drops them when the last
// process in it exits — even if Paddock itself is killed mid-build.
const ENTER = [
  'set -eu',
  'mount -t proc proc "$1/proc"',
  'mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$1/dev/pts"',
  'exec chroot "$1" /bin/sh -euc "$2"',
].join('\n');

export interface ChrootSession {
  /** Runs a shell script as root in the rootfs; throws `image_build_failed` naming `step` if it fails. */
  run(step: string, phase: 'apt' | 'steps' | 'cleanup', script: string): Promise<void>;
}

/**
 * Prepares a rootfs for running package managers in it (host DNS, no service
 * starts), hands a session to `fn`, and always puts the rootfs back: the build
 * host's resolv.conf and the policy-rc.d stub must not end up in an image.
 */
export async function withChroot<T>(
  image: string,
  rootfs: string,
  report: Reporter,
  fn: (session: ChrootSession) => Promise<T>,
): Promise<T> {
  const resolv = path.join(rootfs, 'etc/resolv.conf');
  const policy = path.join(rootfs, 'usr/sbin/policy-rc.d');
  const buildCa = path.join(rootfs, BUILD_CA);
  const hostCa = existsSync(HOST_CA_BUNDLE);
  try {
    if (hostCa) await copyFile(HOST_CA_BUNDLE, buildCa);
    // apt and npm resolve names; the image's own resolv.conf may be a dangling symlink.
    await rm(resolv, { force: true });
    await copyFile('/etc/resolv.conf', resolv);
    // Exit 101 = "action not allowed": postinst scripts must not start daemons on the build host.
    await writeFile(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    return await fn({
      run: (step, phase, script) =>
        runLogged(
          ['unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', ENTER, 'enter', rootfs, script],
          { image, step, phase, report, env: chrootEnv(hostCa) },
        ),
    });
  } finally {
    await rm(policy, { force: true });
    await rm(buildCa, { force: true });
    await writeFile(resolv, '');
    // Belt and braces: the namespace should have taken its mounts with it.
    for (const point of await mountsUnder(rootfs)) {
      report('cleanup', `unmounting ${point} left by the build`);
      await runLogged(['umount', '--lazy', point], { image, step: `umount ${point}`, phase: 'cleanup', report });
    }
  }
}

/** Leaves no package lists, .deb files or logs in the image: they are most of a fresh debootstrap's size. */
export const CLEANUP_SCRIPT = [
  'apt-get clean',
  'rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old',
  'rm -rf /var/log/apt/* /var/log/dpkg.log /var/log/alternatives.log /var/log/bootstrap.log',
  'rm -rf /root/.npm /root/.cache /tmp/* /var/tmp/*',
  'chmod 1777 /tmp',
].join('\n');
