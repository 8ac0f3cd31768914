// Groups an async stream of messages into batches: a batch closes when it is full, when `flushMs` passed
// since its first message, or when the stream ends. Memory stays bounded by what the source buffers.
const TIMEOUT = Symbol("timeout");

export interface Batch<T> {
  items: T[];
  /** The stream ended (or went quiet past `firstWithinMs`); no more batches follow. */
  done: boolean;
}

export class BatchReader<T> {
  /** A next() that lost a race against the flush timer is kept for the following batch, never dropped. */
  private pending: Promise<IteratorResult<T>> | undefined;

  constructor(private readonly source: AsyncIterator<T>) {}

  /**
   * Waits for a first item (at most `firstWithinMs`, when given: a source that should have ended by then is
   * treated as ended), then gathers more for up to `flushMs`.
   */
  async read(maxItems: number, flushMs: number, firstWithinMs?: number): Promise<Batch<T>> {
    const first = firstWithinMs === undefined ? await this.peek() : await this.peekWithin(firstWithinMs);
    if (first === TIMEOUT) return { items: [], done: true };
    this.pending = undefined;
    if (first.done) return { items: [], done: true };
    const items = [first.value];
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<typeof TIMEOUT>((resolve) => (timer = setTimeout(resolve, flushMs, TIMEOUT)));
    try {
      while (items.length < maxItems) {
        const next = await Promise.race([this.peek(), deadline]);
        if (next === TIMEOUT) break;
        this.pending = undefined;
        if (next.done) return { items, done: true };
        items.push(next.value);
      }
      return { items, done: false };
    } finally {
      clearTimeout(timer);
    }
  }

  private async peekWithin(ms: number): Promise<IteratorResult<T> | typeof TIMEOUT> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([this.peek(), new Promise<typeof TIMEOUT>((resolve) => (timer = setTimeout(resolve, ms, TIMEOUT)))]);
    } finally {
      clearTimeout(timer);
    }
  }

  private peek(): Promise<IteratorResult<T>> {
    if (!this.pending) {
      this.pending = this.source.next();
      // A kept next() may fail while no read() awaits it; the failure is seen by the next read(), so it
      // must not count as an unhandled rejection in between.
      this.pending.catch(() => undefined);
    }
    return this.pending;
  }
}
