// A readers-writer gate: attacks run side by side ("shared"), measurements run alone ("quiet"). A quiet
// section waits for the attacks in progress to finish and holds new ones back until it is done, so a latency
// or CPU figure is never taken while another test's attack is loading the machine.
export class QuietGate {
  private active = 0;
  private quiet = false;
  private readonly waiting: Array<{ quiet: boolean; go: () => void }> = [];

  async shared<T>(work: () => Promise<T>): Promise<T> {
    await this.enter(false);
    try {
      return await work();
    } finally {
      this.leave(false);
    }
  }

  async quietly<T>(work: () => Promise<T>): Promise<T> {
    await this.enter(true);
    try {
      return await work();
    } finally {
      this.leave(true);
    }
  }

  private enter(quiet: boolean): Promise<void> {
    // A waiting quiet section goes first: attacks that arrive after it wait behind it.
    if (this.waiting.length === 0 && this.admits(quiet)) {
      this.take(quiet);
      return Promise.resolve();
    }
    return new Promise<void>((go) => this.waiting.push({ quiet, go }));
  }

  private admits(quiet: boolean): boolean {
    return quiet ? !this.quiet && this.active === 0 : !this.quiet;
  }

  private take(quiet: boolean): void {
    if (quiet) this.quiet = true;
    else this.active++;
  }

  private leave(quiet: boolean): void {
    if (quiet) this.quiet = false;
    else this.active--;
    while (this.waiting.length > 0 && this.admits(this.waiting[0]!.quiet)) {
      const next = this.waiting.shift()!;
      this.take(next.quiet);
      next.go();
      if (next.quiet) break;
    }
  }
}
