/**
 * The container's main process: a POSIX shell that waits on its attached stdin
 * for one job. Handing the job over this channel, opened when the container was
 * created, costs one attach instead of a `docker exec` (create + start + inspect).
 *
 * Stdin carries: one header line (shell words, written by `jobHeader`), then a
 * tar of the input files (members `work/...` and `tmp/.paddock/...`, unpacked
 * at `/`), then the job's own stdin.
 *
 * Two variants, because only one of them can be trusted with the job's end:
 *
 * - `dropping` (images Paddock built, which have util-linux's setpriv): the
 *   launcher runs as root with only CAP_SETUID/SETGID/SETPCAP and no new
 *   privileges; it unpacks the files and runs the command as the container's
 *   own uid with no capabilities at all (bounding set emptied). The job is then
 *   another user than the launcher: it can neither ptrace it, read its
 *   /proc/<pid>/mem|environ|fd, nor signal it. The random end-of-job mark lives
 *   only in the launcher's shell memory (never in argv or env), so when the
 *   command exits the launcher's `<mark> <exit code>` on stdout and stderr is
 *   one the job cannot forge: seeing both, the runner has the whole result
 *   without waiting ~30 ms for the container to stop.
 * - `plain` (any other image: setpriv is not guaranteed): the launcher runs as
 *   the job's uid and `exec`s the command; it prints no trailer, and the job's
 *   end is the container's exit, which the runner learns from the Engine.
 */
export type LauncherKind = 'dropping' | 'plain';

const READ_HEADER = ["NL='\n'", 'IFS= read -r line || exit 125', 'eval "set -- $line"'];
// GNU tar run by a non-root user does not chown; the archive has no entries for / , /work or /tmp themselves.
const unpack = (asJob: string) =>
  `if [ "$n" -gt 0 ]; then head -c "$n" | ${asJob}tar -x -C / -f - || { echo "paddock: unpacking input files failed" >&2; exit 125; }; fi`;

export function launcher(kind: LauncherKind, uid: number): string {
  if (!Number.isInteger(uid) || uid <= 0) throw new Error(`bad container uid ${uid}`);
  if (kind === 'plain') {
    // env -i: the command sees exactly the job's environment.
    return [...READ_HEADER, 'n=$1; dir=$3; shift 3', unpack(''), 'cd "$dir" || exit 125', 'exec env -i "$@"'].join('\n');
  }
  const asJob = `setpriv --reuid=${uid} --regid=${uid} --clear-groups --inh-caps=-all --bounding-set=-all -- `;
  return [
    ...READ_HEADER,
    'n=$1; mark=$2; dir=$3; shift 3',
    unpack(asJob),
    // The job's own files are 0755 dirs: entering as root (no DAC capabilities) is entering as the job.
    'cd "$dir" || exit 125',
    `${asJob}env -i "$@"`,
    'code=$?',
    `printf '%s %d\\n' "$mark" "$code"`,
    `printf '%s %d\\n' "$mark" "$code" >&2`,
    'exit "$code"',
  ].join('\n');
}

/** Quotes one word for the launcher's `eval`; newlines become "$NL" so the header stays one line. */
export function shellWord(word: string): string {
  return `'${word.replace(/'/g, `'\\''`).replace(/\n/g, `'"$NL"'`)}'`;
}

/**
 * The header: archive size, mark (empty for the plain launcher), cwd, the job's
 * env, then argv for `env -i` to run. An argv[0] that `env` would read as a
 * variable or an option goes through `sh -c 'exec "$@"'`; any other costs no
 * shell (every exec counts on the warm path, under gVisor most of all).
 */
export function jobHeader(o: {
  tarBytes: number;
  cwd: string;
  mark: string;
  env: Record<string, string>;
  argv: string[];
}): string {
  const env = Object.entries(o.env).map(([k, v]) => `${k}=${v}`);
  const first = o.argv[0] ?? '';
  const wrap = first.includes('=') || first.startsWith('-') ? ['/bin/sh', '-c', 'exec "$@"', 'sh'] : [];
  const words = [String(o.tarBytes), o.mark, o.cwd, ...env, ...wrap, ...o.argv];
  return `${words.map(shellWord).join(' ')}\n`;
}
