import type { LanguageHealth } from '../../../judge/health.js';
import { expand, type Language, LANGUAGES } from '../../../judge/languages.js';

/** Judge0 CE's way of naming a language: the compiler or runtime and its version in brackets. */
const NAMES: Record<string, (v: string | null) => string> = {
  python: (v) => `Python (${v ?? '3'})`,
  javascript: (v) => (v ? `JavaScript (Node.js ${v})` : 'JavaScript (Node.js)'),
  c: (v) => (v ? `C (GCC ${v})` : 'C (GCC)'),
  cpp: (v) => (v ? `C++ (GCC ${v})` : 'C++ (GCC)'),
  java: (v) => (v ? `Java (OpenJDK ${v})` : 'Java (OpenJDK)'),
  bash: (v) => (v ? `Bash (${v})` : 'Bash'),
};

/** The dotted number in what a language prints as its version (`Python 3.11.2`, `v18.20.4`, `openjdk version "17.0.13"`). */
export const versionNumber = (printed: string | null): string | null => /\d+(?:\.\d+)+/.exec(printed ?? '')?.[0] ?? null;

export function judge0Name(l: Language, health: LanguageHealth): string {
  const v = versionNumber(health.version(l.id));
  return NAMES[l.id]?.(v) ?? (v ? `${l.name} (${v})` : l.name);
}

/** `GET /languages`: `[{id, name}]`, by id. */
export function languageList(health: LanguageHealth): { id: number; name: string }[] {
  return [...LANGUAGES].sort((a, b) => a.judge0Id - b.judge0Id).map((l) => ({ id: l.judge0Id, name: judge0Name(l, health) }));
}

/**
 * `GET /languages/:id`, with the commands as Paddock runs them: `%s` where compiler_options go (as
 * Judge0 shows it), and the memory a submission gets by default where the runtime is told its heap.
 */
export function languageView(l: Language, health: LanguageHealth, memoryMb: number) {
  const x = { options: ['%s'], sources: [l.sourceFile], limits: { memory_mb: memoryMb } };
  return {
    id: l.judge0Id,
    name: judge0Name(l, health),
    is_archived: false,
    source_file: l.sourceFile,
    compile_cmd: l.compile ? expand(l.compile, x).join(' ') : null,
    run_cmd: expand(l.run, x).join(' '),
  };
}
