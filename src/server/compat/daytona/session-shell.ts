/**
 * What carries from one session command to the next, as in Daytona's long-lived session shell:
 * the working directory and the exported variables. Each command is an exec of its own
 * (src/sandboxes/exec-start.ts), so the shell saves both on its way out (an EXIT trap, also
 * after `exit`) to files in the sandbox's /tmp, and the next command of the session reads them
 * first. Plain (unexported) variables, functions and aliases do not carry; a command killed by a
 * signal saves nothing. `$0` is the session's state key (its id, which its grammar keeps a plain
 * file name, and a random part).
 */
const SCRIPT = [
  'f=/tmp/.paddock-daytona-session-$0',
  '[ -r "$f.env" ] && . "$f.env"',
  '[ -r "$f.cwd" ] && cd "$(cat "$f.cwd")" 2>/dev/null',
  `trap 'rc=$?; export -p > "$f.env" 2>/dev/null; pwd > "$f.cwd" 2>/dev/null; exit $rc' EXIT`,
  'eval "$1"',
].join('\n');

/** The argv of a session command: /bin/sh running it with the session's state around it. */
export function sessionArgv(stateKey: string, command: string): string[] {
  return ['/bin/sh', '-c', SCRIPT, stateKey, command];
}
