// Background upkeep that needs MongoDB or NATS to be up: MongoDB indexes, the NATS streams and bucket, and
// the bucket's mirror of MongoDB. It runs at start, after every NATS reconnect (the server may have lost its
// store), after a failed mirror, and periodically; while a dependency is down it retries with growing waits.
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { ensureTopology, type TopologyOptions } from "../shared/nats.js";
import { untilAborted } from "./abortable.js";
import { Backoff } from "./backoff.js";
import type { FunctionPublisher, ReconcileReport } from "./function-publisher.js";
import type { FunctionStore } from "./function-store.js";
import type { InvocationRecords } from "./invocation-records.js";

export interface ReconcilerDeps {
  nc: NatsConnection;
  topology: TopologyOptions;
  store: FunctionStore;
  records: InvocationRecords;
  publisher: FunctionPublisher;
  intervalMs: number;
  /** Called after NATS reconnected and the topology was declared again. */
  onReconnect: () => void;
  log: Logger;
}

export class Reconciler {
  private indexesReady = false;
  private topologyStale = false;
  private wanted = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private readonly backoff = new Backoff(500, 10_000);

  constructor(private readonly deps: ReconcilerDeps) {}

  /** Starts the loop; the first pass is expected to have been run (or tried) with runOnce() by the caller. */
  start(): void {
    this.loop ??= this.run();
    this.watchConnection();
    if (this.deps.intervalMs > 0) this.timer = setInterval(() => this.request(), this.deps.intervalMs);
  }

  request(): void {
    this.wanted = true;
    this.wake?.();
  }

  /** One pass: indexes (once), topology (when stale), then the bucket mirror. Throws when a dependency is down. */
  async runOnce(): Promise<ReconcileReport> {
    const { store, records, publisher, nc, topology, log } = this.deps;
    if (!this.indexesReady) {
      await store.ensureIndexes();
      await records.ensureIndexes();
      this.indexesReady = true;
    }
    if (this.topologyStale) {
      await ensureTopology(nc, topology);
      publisher.reopen();
      this.topologyStale = false;
      this.deps.onReconnect();
    }
    const report = await publisher.reconcile(store);
    if (report.versionsWritten + report.latestWritten + report.latestRemoved + report.versionsRemoved > 0) log.info(report, "function bucket reconciled");
    return report;
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      clearInterval(this.timer);
      this.abort.abort();
      this.wake?.();
      await this.loop;
    })();
    return this.stopped;
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      if (!this.wanted) await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
      if (this.abort.signal.aborted) return;
      this.wanted = false;
      try {
        await untilAborted(this.runOnce(), this.abort.signal);
        this.backoff.reset();
      } catch (err) {
        this.deps.log.warn({ err }, "reconcile failed; retrying");
        this.wanted = true;
        await this.backoff.wait(this.abort.signal);
      }
    }
  }

  private watchConnection(): void {
    void (async () => {
      for await (const s of this.deps.nc.status()) {
        if (s.type !== "reconnect") continue;
        this.topologyStale = true;
        this.request();
      }
    })();
  }
}

