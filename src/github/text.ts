/** Text from GitHub on its way into a prompt or a comment: printable, bounded in UTF-8 bytes. */

const TRUNCATED = '\n[… truncated by Paddock]';

/** CRLF to LF; C0 controls other than tab and newline, DEL and NUL removed (a prompt must not carry NUL). */
export function cleanText(text: unknown): string {
  if (typeof text !== 'string') return '';
  return text.replace(/\r\n?/g, '\n').replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '');
}

/** At most `maxBytes` of UTF-8, cut at a character boundary, marked when cut. */
export function truncateUtf8(text: string, maxBytes: number): { text: string; truncated: boolean } {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return { text, truncated: false };
  const room = Math.max(0, maxBytes - Buffer.byteLength(TRUNCATED, 'utf8'));
  const buf = Buffer.from(text, 'utf8').subarray(0, room);
  // Drop a partial character at the end: a UTF-8 continuation byte is 10xxxxxx.
  let end = buf.length;
  let back = end - 1;
  while (back >= 0 && (buf[back]! & 0xc0) === 0x80) back--;
  if (back >= 0) {
    const lead = buf[back]!;
    const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    if (end - back < need) end = back;
  }
  return { text: buf.subarray(0, end).toString('utf8') + TRUNCATED, truncated: true };
}
