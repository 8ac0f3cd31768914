// A watch on the latest keys of the functions bucket that restarts itself: gateways and agents both keep
// their view of which functions exist from it, and a view that silently stops updating would keep serving
// deleted functions.
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/transport-node";
import type { Logger } from "./logger.js";

/** Latest keys are single-token names; version keys (`name.vN`) have a dot, so "*" leaves them out. */
export const LATEST_KEYS = "*";
const RETRY_MS = 1000;

export class FunctionWatch {
  private watcher: QueuedIterator<KvWatchEntry> | undefined;
  private stopped = false;

  constructor(
    private readonly kv: KV,
    private readonly onEntry: (entry: KvWatchEntry) => void,
    private readonly log: Logger,
  ) {}

  /** Resolves once the watch is open (its first entries replay the bucket's current state). */
  async start(): Promise<void> {
    await this.open();
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.stop();
  }

  private async open(): Promise<void> {
    const iter = await this.kv.watch({ key: LATEST_KEYS });
    this.watcher = iter;
    void this.consume(iter);
  }

  private async consume(iter: QueuedIterator<KvWatchEntry>): Promise<void> {
    try {
      for await (const entry of iter) this.onEntry(entry);
    } catch (err) {
      this.log.warn({ err }, "function watch failed");
    }
    if (!this.stopped) this.reopen();
  }

  /** The watch is an ordered consumer that survives reconnects; if it ends anyway, open a new one. */
  private reopen(): void {
    this.log.warn("function watch ended; restarting it");
    setTimeout(() => {
      if (this.stopped) return;
      this.open().catch((err: unknown) => {
        this.log.warn({ err }, "function watch could not restart");
        this.reopen();
      });
    }, RETRY_MS).unref();
  }
}
