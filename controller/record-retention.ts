// Retention: purges invocation records past their age or past their function's cap, and metrics rollups past
// theirs, in bounded steps by _id (the only deletes FerretDB on SQLite answers from an index).
//
// A function's records are purged a listing page at a time, oldest page first: the page's invocations (their
// three documents) and then the page. A page goes when it was last written before the age limit, or when more
// than the cap's worth of newer pages exist. The newest page always stays (a writer may still be filling it).
// Each step deletes at most `batch` records and is followed by a pause as long as it took.
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { untilAborted } from "./abortable.js";
import { PAGE_ENTRIES } from "./invocation-pages.js";
import type { InvocationRecords } from "./invocation-records.js";
import { ROLLUP_BLOCK_MS, blockOf } from "./metrics-rollups.js";
import type { HeadDoc } from "./record-heads.js";

export interface RetentionOptions {
  recordMaxAgeMs: number;
  recordMaxPerFunction: number;
  rollupMaxAgeMs: number;
  intervalMs: number;
  batch: number;
}

export interface PurgeReport {
  pages: number;
  records: number;
  rollups: number;
  /** More is due: the pass stopped at its step bound. */
  more: boolean;
}


export class RecordRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(
    private readonly records: InvocationRecords,
    private readonly opts: RetentionOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.opts.intervalMs <= 0) return;
    this.timer ??= setInterval(() => (this.running ??= this.purgeAll().finally(() => (this.running = undefined))), this.opts.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.abort.abort();
    await this.running;
  }

  /** Steps until nothing is due (or the controller stops), pausing between steps. */
  private async purgeAll(): Promise<void> {
    try {
      for (;;) {
        const started = Date.now();
        const report = await untilAborted(this.step(), this.abort.signal);
        if (!report) return;
        if (report.records + report.rollups > 0) this.log.info(report, "expired invocation records purged");
        if (!report.more) return;
        await sleep(Date.now() - started, undefined, { signal: this.abort.signal });
      }
    } catch (err) {
      if (!this.abort.signal.aborted) this.log.warn({ err }, "record retention failed; retrying next interval");
    }
  }

  /** One bounded step over every function: at most `batch` records and `batch` rollup documents. */
  async step(now = Date.now()): Promise<PurgeReport> {
    const report: PurgeReport = { pages: 0, records: 0, rollups: 0, more: false };
    for (const head of await this.records.heads.all()) {
      if (report.records >= this.opts.batch || report.rollups >= this.opts.batch) {
        report.more = true;
        break;
      }
      await this.purgePages(head, now, report);
      await this.purgeRollups(head, now, report);
    }
    return report;
  }

  private async purgePages(head: HeadDoc, now: number, report: PurgeReport): Promise<void> {
    const keepPages = Math.ceil(this.opts.recordMaxPerFunction / PAGE_ENTRIES);
    const oldest = now - this.opts.recordMaxAgeMs;
    let n = head.tail;
    while (n < head.head) {
      if (report.records >= this.opts.batch) {
        report.more = true;
        break;
      }
      const page = await this.records.pages.page(head._id, n);
      if (page && !(head.head - n >= keepPages || page.updatedAt.getTime() < oldest)) break;
      if (page) report.records += await this.records.purgePage(page);
      report.pages++;
      n++;
    }
    if (n > head.tail) await this.records.heads.purged(head._id, { tail: n });
  }

  private async purgeRollups(head: HeadDoc, now: number, report: PurgeReport): Promise<void> {
    if (!head.rollupsFrom) return;
    const cutoff = blockOf(now - this.opts.rollupMaxAgeMs);
    let block = head.rollupsFrom.getTime();
    for (let visited = 0; block < cutoff && report.rollups < this.opts.batch && visited < this.opts.batch; visited++) {
      report.rollups += await this.records.rollups.purgeBlock(head._id, block);
      block += ROLLUP_BLOCK_MS;
    }
    if (block > head.rollupsFrom.getTime()) await this.records.heads.purged(head._id, { rollupsFrom: new Date(block) });
    if (block < cutoff) report.more = true;
  }
}
