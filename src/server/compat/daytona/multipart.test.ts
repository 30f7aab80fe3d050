import { describe, expect, it } from 'vitest';
import { boundaryOf, MAX_FIELD, MultipartReader, partHead, type PartSink } from './multipart.js';

const B = 'xYz-boundary';
const body = [
  `--${B}\r\nContent-Disposition: form-data; name="files[0].path"\r\n\r\n/work/a.txt\r\n`,
  `--${B}\r\nContent-Disposition: form-data; name="files[0].file"; filename="/work/a.txt"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  `line one\r\n--not-the-boundary\r\n\r\n--${B}-almost`,
  `\r\n--${B}\r\nContent-Disposition: form-data; name="files[1].file"; filename="q\\"uote.txt"\r\n\r\n\r\n--${B}--\r\n`,
].join('');

/** Reads `raw` fed in pieces of `step` bytes; what each part got. */
async function read(raw: Buffer, step: number) {
  const fields: Record<string, string> = {};
  const files: { name: string; filename: string; data: Buffer }[] = [];
  const reader = new MultipartReader(B, {
    field: (name, value) => void (fields[name] = value),
    file: async (name, filename): Promise<PartSink> => {
      const f = { name, filename, data: Buffer.alloc(0) };
      files.push(f);
      return { write: async (c) => void (f.data = Buffer.concat([f.data, c])), end: async () => undefined };
    },
  });
  for (let i = 0; i < raw.length; i += step) await reader.push(raw.subarray(i, i + step));
  await reader.end();
  return { fields, files };
}

describe('MultipartReader', () => {
  it('hands on fields and files the same however the body is cut into chunks', async () => {
    const raw = Buffer.from(body);
    for (const step of [1, 2, 3, 7, 16, 64, raw.length]) {
      const { fields, files } = await read(raw, step);
      expect(fields).toEqual({ 'files[0].path': '/work/a.txt' });
      expect(files.map((f) => [f.name, f.filename, f.data.toString()])).toEqual([
        ['files[0].file', '/work/a.txt', `line one\r\n--not-the-boundary\r\n\r\n--${B}-almost`],
        ['files[1].file', 'q"uote.txt', ''],
      ]);
    }
  });

  it('refuses a body without its closing boundary, oversized fields and headers', async () => {
    await expect(read(Buffer.from(body.slice(0, -10)), 5)).rejects.toThrow(/closing boundary/);
    const bigField = `--${B}\r\nContent-Disposition: form-data; name="f"\r\n\r\n${'a'.repeat(MAX_FIELD + 1)}\r\n--${B}--\r\n`;
    await expect(read(Buffer.from(bigField), 4096)).rejects.toThrow(/larger than/);
    await expect(read(Buffer.from(`--${B}\r\nX: ${'h'.repeat(20_000)}`), 4096)).rejects.toThrow(/headers are too large/);
    await expect(read(Buffer.from(`--${B}\r\nContent-Type: text/plain\r\n\r\nx\r\n--${B}--`), 8)).rejects.toThrow(/Content-Disposition/);
  });

  it('reads the boundary of a content type, quoted or not, and refuses anything else', () => {
    expect(boundaryOf('multipart/form-data; boundary=abc')).toBe('abc');
    expect(boundaryOf('multipart/form-data; charset=utf-8; boundary="a b"')).toBe('a b');
    expect(() => boundaryOf('application/json')).toThrow(/multipart/);
    expect(() => boundaryOf(undefined)).toThrow(/multipart/);
  });

  it('writes part heads busboy reads back (quotes escaped)', () => {
    expect(partHead('b', 'file', '/a "b".txt', 'application/octet-stream', 3).toString()).toBe(
      '--b\r\nContent-Disposition: form-data; name="file"; filename="/a \\"b\\".txt"\r\nContent-Type: application/octet-stream\r\nContent-Length: 3\r\n\r\n',
    );
  });
});
