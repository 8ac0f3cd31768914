// Notices when this process did not run for a while (SIGSTOP, a VM pause, a swap storm): a job held through
// such a stall may have lost its JetStream lease, since no "still working" reached the server, and another
// agent may be running it now. Such a job's outcome must not be published as the invocation's (a late
// timeout could overwrite a success elsewhere): the attempt is fenced (invocation-runner.ts).
const TICK_MS = 100;

export class StallWatch {
  private timer: NodeJS.Timeout | undefined;
  private last = performance.now();
  /** Monotonic times at which a stall ended, with its length; only the recent ones are kept. */
  private stalls: Array<{ endedAt: number; ms: number }> = [];

  constructor(private readonly minStallMs: number) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const now = performance.now();
    const gap = now - this.last - TICK_MS;
    this.last = now;
    if (gap >= this.minStallMs) this.stalls.push({ endedAt: now, ms: gap });
    if (this.stalls.length > 64) this.stalls.splice(0, this.stalls.length - 64);
  }

  /** The longest stall that ended after `since` (a performance.now() reading), including one ending now. */
  longestSince(since: number): number {
    this.tick(); // a stall that has just ended counts before the next tick
    let longest = 0;
    for (const s of this.stalls) if (s.endedAt >= since && s.ms > longest) longest = s.ms;
    return longest;
  }
}
