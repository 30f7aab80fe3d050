import type { TestLimits } from '../config/judge.js';

/**
 * One judge language: everything about it is here, as data. Commands are argv arrays run in the
 * work dir; `{options}` expands to the submission's compile options (checked tokens, never a shell
 * string), `{sources}` to its source files of the language's extensions, `{memory_mb}` to the
 * test's memory limit. Ids and file names follow Judge0 CE where both have the language.
 */
export interface Language {
  id: string;
  name: string;
  /** Judge0 CE's `language_id`. */
  judge0Id: number;
  /** Piston's language name and aliases. */
  piston: { name: string; aliases: string[] };
  /** The entry file a single `source` is written to. */
  sourceFile: string;
  /** Extensions `{sources}` picks from a submission's files. */
  extensions: string[];
  compile?: string[];
  run: string[];
  /** Prints the language's version (first line is kept). */
  version: string[];
  /** A program that must print `smoke.expected` from `smoke.stdin`; run at start and periodically. */
  smoke: { source: string; stdin: string; expected: string };
  /** Threads the runtime starts by itself (JVM, V8): added to the test's pids so a limit binds the program. */
  runtimeThreads?: number;
  /** RLIMIT_AS is safe only where the runtime does not reserve huge address ranges (not the JVM nor V8). */
  addressSpaceLimit?: boolean;
  /**
   * What the runtime itself takes beyond the program's heap (the JVM, V8): the test's limit bounds the
   * heap (-Xmx, --max-old-space-size), and the resident peak may pass it by this much.
   */
  memoryOverheadMb?: number;
  /** stderr lines that mean the program ran out of its memory limit (a heap error, not a crash of its own). */
  oomMarkers?: string[];
}

const SUM = { stdin: '2 3\n', expected: '5\n' };

export const LANGUAGES: readonly Language[] = [
  {
    id: 'python',
    name: 'Python 3',
    judge0Id: 71,
    piston: { name: 'python', aliases: ['py', 'py3', 'python3'] },
    sourceFile: 'main.py',
    extensions: ['.py'],
    run: ['python3', '-B', '-S', 'main.py'],
    version: ['python3', '--version'],
    smoke: { source: 'a, b = map(int, input().split())\nprint(a + b)\n', ...SUM },
    oomMarkers: ['MemoryError'],
  },
  {
    id: 'javascript',
    name: 'JavaScript (Node.js)',
    judge0Id: 63,
    piston: { name: 'javascript', aliases: ['js', 'node', 'node-js', 'nodejs'] },
    sourceFile: 'main.js',
    extensions: ['.js', '.mjs'],
    run: ['node', '--max-old-space-size={memory_mb}', 'main.js'],
    version: ['node', '--version'],
    smoke: {
      source: "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\nconsole.log(a + b);\n",
      ...SUM,
    },
    runtimeThreads: 16,
    memoryOverheadMb: 64,
    oomMarkers: ['JavaScript heap out of memory'],
  },
  {
    id: 'c',
    name: 'C (GCC)',
    judge0Id: 50,
    piston: { name: 'c', aliases: ['gcc'] },
    sourceFile: 'main.c',
    extensions: ['.c'],
    compile: ['gcc', '-O2', '-pipe', '-std=gnu17', '-o', 'main', '{options}', '{sources}', '-lm'],
    run: ['./main'],
    version: ['gcc', '-dumpfullversion'],
    smoke: { source: '#include <stdio.h>\nint main(void){long a,b;if(scanf("%ld %ld",&a,&b)!=2)return 1;printf("%ld\\n",a+b);return 0;}\n', ...SUM },
    addressSpaceLimit: true,
  },
  {
    id: 'cpp',
    name: 'C++ (GCC)',
    judge0Id: 54,
    piston: { name: 'c++', aliases: ['cpp', 'g++'] },
    sourceFile: 'main.cpp',
    extensions: ['.cpp', '.cc', '.cxx'],
    compile: ['g++', '-O2', '-pipe', '-std=gnu++17', '-o', 'main', '{options}', '{sources}'],
    run: ['./main'],
    version: ['g++', '-dumpfullversion'],
    smoke: { source: '#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<"\\n";}\n', ...SUM },
    addressSpaceLimit: true,
  },
  {
    id: 'java',
    name: 'Java (OpenJDK)',
    judge0Id: 62,
    piston: { name: 'java', aliases: [] },
    sourceFile: 'Main.java',
    extensions: ['.java'],
    // javac's own JVM, bounded like the programs are: it would size its heap from the host's memory.
    compile: ['javac', '-J-Xmx512m', '-J-XX:+UseSerialGC', '-encoding', 'UTF-8', '-d', '.', '{options}', '{sources}'],
    // No /sys in every sandbox: the JVM cannot read the cgroup, so it is told its heap and one CPU.
    run: ['java', '-Xmx{memory_mb}m', '-Xss64m', '-XX:+UseSerialGC', '-XX:ActiveProcessorCount=1', '-XX:TieredStopAtLevel=1', '-cp', '.', 'Main'],
    version: ['java', '-version'],
    smoke: {
      source:
        'import java.util.Scanner;\npublic class Main { public static void main(String[] a) { Scanner s = new Scanner(System.in); System.out.println(s.nextLong() + s.nextLong()); } }\n',
      ...SUM,
    },
    runtimeThreads: 32,
    memoryOverheadMb: 96,
    oomMarkers: ['java.lang.OutOfMemoryError'],
  },
  {
    id: 'bash',
    name: 'Bash',
    judge0Id: 46,
    piston: { name: 'bash', aliases: ['sh'] },
    sourceFile: 'main.sh',
    extensions: ['.sh'],
    run: ['bash', 'main.sh'],
    version: ['bash', '-c', 'echo "$BASH_VERSION"'],
    smoke: { source: 'read a b\necho $((a + b))\n', ...SUM },
  },
];

/** A language by its id, Judge0 id, or Piston name/alias; undefined when none. */
export function findLanguage(key: string | number): Language | undefined {
  if (typeof key === 'number') return LANGUAGES.find((l) => l.judge0Id === key);
  const k = key.toLowerCase();
  return LANGUAGES.find((l) => l.id === k || l.piston.name === k || l.piston.aliases.includes(k));
}

export interface Expansion {
  options: string[];
  sources: string[];
  limits: Pick<TestLimits, 'memory_mb'>;
}

/** A command template with its placeholders filled in; each placeholder is a whole argument. */
export function expand(template: readonly string[], x: Expansion): string[] {
  const out: string[] = [];
  for (const arg of template) {
    if (arg === '{options}') out.push(...x.options);
    else if (arg === '{sources}') out.push(...x.sources);
    else out.push(arg.replaceAll('{memory_mb}', String(x.limits.memory_mb)));
  }
  return out;
}
