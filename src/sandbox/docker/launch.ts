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
    return [...READ_HEADER, 'n=$1; shift 2', unpack(''), 'exec env -i "$@"'].join('\n');
  }
  const asJob = `setpriv --reuid=${uid} --regid=${uid} --clear-groups --inh-caps=-all --bounding-set=-all -- `;
  return [
    ...READ_HEADER,
    'n=$1; mark=$2; shift 2',
    unpack(asJob),
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
 * The header: archive size, mark (empty for the plain launcher), the job's env,
 * then an inner shell that enters the cwd as the job's user and becomes argv
 * (as given: an argv[0] containing "=" would otherwise read as a variable).
 */
export function jobHeader(o: {
  tarBytes: number;
  cwd: string;
  mark: string;
  env: Record<string, string>;
  argv: string[];
}): string {
  const env = Object.entries(o.env).map(([k, v]) => `${k}=${v}`);
  const enter = 'cd "$1" || exit 125; shift; exec "$@"';
  const words = [String(o.tarBytes), o.mark, ...env, '/bin/sh', '-c', enter, 'sh', o.cwd, ...o.argv];
  return `${words.map(shellWord).join(' ')}\n`;
}
