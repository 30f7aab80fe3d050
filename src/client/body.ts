/** What an upload may be given: bytes, text, a web stream, or any async iterable of bytes (a Node Readable). */
export type UploadSource = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string> | Uint8Array | string;

/**
 * A web stream for a request body, read only as fast as the request is sent:
 * an async iterable (a file stream, stdin) is pulled a chunk at a time, never
 * gathered whole.
 */
export function toBody(source: UploadSource): ReadableStream<Uint8Array> | Uint8Array | string {
  if (typeof source === 'string' || source instanceof Uint8Array || source instanceof ReadableStream) return source;
  const it = source[Symbol.asyncIterator]();
  const utf8 = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await it.next();
      if (done) controller.close();
      else controller.enqueue(typeof value === 'string' ? utf8.encode(value) : value);
    },
    async cancel(reason) {
      await it.return?.(reason);
    },
  });
}
