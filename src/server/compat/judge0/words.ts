/** What Judge0 strips from compiler_options and command_line_arguments before bash reads them. */
export const JUDGE0_STRIPPED_RE = /[$&;<>|`]/g;

/**
 * Splits a command line into arguments the way bash reads Judge0's `run.sh` after that stripping:
 * whitespace separates, '…' and "…" quote, a backslash escapes. Nothing is expanded (no globs,
 * no variables; `$` is gone anyway), and no shell ever sees the result: it becomes an argv.
 * Returns undefined for an unterminated quote.
 */
export function shellWords(line: string): string[] | undefined {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < line.length && '"\\\n'.includes(line[i + 1]!)) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 < line.length) word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) return undefined;
  if (inWord) words.push(word);
  return words;
}
