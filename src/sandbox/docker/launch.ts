import { WORK_DIR } from '../driver.js';

/**
 * The container's main process: a POSIX shell that waits on its attached stdin
 * for one job. Handing the job over this channel, opened when the container was
 * created, costs one attach instead of a `docker exec` (create + start + inspect).
 *
 * Stdin carries: one header line (shell words, written by `jobHeader`), then a
 * tar of the input files, then the job's own stdin. When the command exits, the
 * launcher writes `<mark> <exit code>` on stdout and stderr: seeing both, the
 * runner has the whole result without waiting ~30 ms for the container to stop.
 */
export const LAUNCHER = [
  "NL='\n'",
  'IFS= read -r line || exit 125',
  'eval "set -- $line"',
  'n=$1; dir=$2; mark=$3; shift 3',
  `if [ "$n" -gt 0 ]; then head -c "$n" | tar -x -C ${WORK_DIR} -f - || { echo "paddock: unpacking input files failed" >&2; exit 125; }; fi`,
  'cd "$dir" || exit 125',
  // env -i: the command sees exactly the job's environment; the inner sh runs
  // argv as given (an argv[0] containing "=" would otherwise read as a variable).
  'env -i "$@"',
  'code=$?',
  `printf '%s %d\\n' "$mark" "$code"`,
  `printf '%s %d\\n' "$mark" "$code" >&2`,
  'exit "$code"',
].join('\n');

/** Quotes one word for the launcher's `eval`; newlines become "$NL" so the header stays one line. */
export function shellWord(word: string): string {
  return `'${word.replace(/'/g, `'\\''`).replace(/\n/g, `'"$NL"'`)}'`;
}

export function jobHeader(o: {
  tarBytes: number;
  cwd: string;
  mark: string;
  env: Record<string, string>;
  argv: string[];
}): string {
  const env = Object.entries(o.env).map(([k, v]) => `${k}=${v}`);
  const words = [String(o.tarBytes), o.cwd, o.mark, ...env, '/bin/sh', '-c', 'exec "$@"', 'sh', ...o.argv];
  return `${words.map(shellWord).join(' ')}\n`;
}
