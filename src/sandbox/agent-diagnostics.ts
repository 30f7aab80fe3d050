/** The agent's stderr is logged up to this much per sandbox; it runs next to the job, so it is bounded. */
const DIAGNOSTICS_BYTES = 2048;
const DIAGNOSTICS_LINES = 12;
const LINE_BYTES = 512;

/**
 * Splits bytes into lines (each cut at LINE_BYTES) and passes on the first DIAGNOSTICS_LINES of
 * them, from at most DIAGNOSTICS_BYTES (a Go runtime crash prints a long trace; its head says why).
 * Every driver logs its agent's stderr through it (bwrap/box.ts, docker/agent-attach.ts).
 */
export function lineLogger(emit: (line: string) => void): (chunk: Buffer) => void {
  let bytes = DIAGNOSTICS_BYTES;
  let lines = DIAGNOSTICS_LINES;
  let partial = '';
  return (chunk) => {
    if (bytes <= 0 || lines <= 0) return;
    const text = partial + chunk.subarray(0, bytes).toString('utf8');
    bytes -= Math.min(chunk.length, bytes);
    const split = text.split('\n');
    partial = split.pop()!.slice(0, LINE_BYTES);
    for (const line of split) {
      if (!line) continue;
      if (lines-- <= 0) break;
      emit(line.slice(0, LINE_BYTES));
    }
    if (bytes <= 0 || lines <= 0) emit('[further agent diagnostics dropped]');
  };
}
