/**
 * Splits Docker's multiplexed attach stream (non-TTY): frames of an 8-byte
 * header — stream id (1 stdout, 2 stderr), 3 zero bytes, big-endian length —
 * followed by the payload. Frames may be cut across chunks at any byte.
 */
export function demuxer(onFrame: (stream: 'stdout' | 'stderr', payload: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      const id = pending[0];
      const payload = pending.subarray(8, 8 + size);
      pending = pending.subarray(8 + size);
      if (id === 1 || id === 2) onFrame(id === 1 ? 'stdout' : 'stderr', payload);
    }
  };
}
