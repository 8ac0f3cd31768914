// At most N holders at a time; the rest wait in arrival order. Used where each holder costs a bounded resource
// (a dependency builder's memory and CPU) and a burst must queue instead of starting all at once.
export class Semaphore {
  private held = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`a semaphore needs a size of at least 1, not ${size}`);
  }

  /** Whether a new holder would wait. */
  get full(): boolean {
    return this.held >= this.size;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `work` once a place is free, and frees it when `work` settles. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await work();
    } finally {
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.held < this.size) {
      this.held++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next(); // the place passes straight to the next waiter
    else this.held--;
  }
}
