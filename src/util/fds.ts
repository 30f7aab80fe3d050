import { closeSync, readdirSync, readFileSync } from 'node:fs';

/** O_CLOEXEC as /proc/<pid>/fdinfo/<fd> prints it (`flags:` is octal). */
const O_CLOEXEC = 0o2000000;

/**
 * This process's fds above 2 that a child would inherit across exec (no O_CLOEXEC).
 * Everything Node and libuv open is close-on-exec, so in a healthy runner this is
 * empty; what shows up was inherited from whoever started us (`77>>file` in a shell,
 * a leaky supervisor) — and bwrap would hand every one of them to a sandbox.
 */
export function inheritableFds(): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc/self/fd');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const entry of entries) {
    const fd = Number(entry);
    if (!Number.isInteger(fd) || fd <= 2) continue;
    let info: string;
    try {
      info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // the directory fd readdir used, closed by now
    }
    const flags = /^flags:\s*([0-7]+)$/m.exec(info)?.[1];
    if (flags !== undefined && (parseInt(flags, 8) & O_CLOEXEC) === 0) found.push(fd);
  }
  return found;
}

/**
 * Closes every inherited fd above 2 that is not close-on-exec, so nothing the
 * runner was started with can reach a sandbox. Call first thing in `serve`,
 * before anything else opens files. Keeps Node's own IPC channel, if any.
 * Returns how many were closed.
 */
export function closeInheritedFds(): number {
  const ipc = Number(process.env.NODE_CHANNEL_FD ?? -1);
  let closed = 0;
  for (const fd of inheritableFds()) {
    if (fd === ipc) continue;
    try {
      closeSync(fd);
      closed++;
    } catch {
      // Already closed.
    }
  }
  return closed;
}
