// Records an agent could not publish are never dropped: a record JetStream did not store (NATS away, a
// leader election, a timeout) is appended to a file in the outbox directory and fsynced before the job is
// acked, and a loop publishes the file's records again, in order, until every one is stored (with the
// same Nats-Msg-Id, so one that did land after all is de-duplicated). An agent that restarts drains what its
// previous run left. Only the loss of the host's disk can lose a record (README "Delivery promises").
import type { JetStreamClient } from "@nats-io/jetstream";
import { appendFileSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../shared/logger.js";

export interface OutboxOptions {
  dir: string;
  agentId: string;
  /** One publish attempt's wait for JetStream's acknowledgement. */
  publishTimeoutMs?: number;
  retryMs?: number;
}

interface Entry {
  subject: string;
  msgID: string;
  data: string;
}

export class RecordOutbox {
  private readonly file: string;
  private pending = 0;
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly js: JetStreamClient,
    private readonly opts: OutboxOptions,
    private readonly log: Logger,
  ) {
    mkdirSync(opts.dir, { recursive: true });
    this.file = join(opts.dir, `${opts.agentId}.jsonl`);
  }

  /** Records waiting in the outbox (for the agent's status). */
  get size(): number {
    return this.pending;
  }

  /** Picks up what a previous run left and starts the retry loop. */
  start(): void {
    this.pending = this.readAll().length;
    if (this.pending > 0) this.log.warn({ records: this.pending, file: this.file }, "records left in the outbox by a previous run; publishing them");
    this.schedule();
  }

  /**
   * Stores a record in JetStream, or failing that in the outbox file: when this resolves the record is
   * durable one way or the other. Never throws (a failing disk is logged; there is nothing better to do).
   */
  async publish(subject: string, data: string, msgID: string): Promise<void> {
    if (this.pending === 0) {
      try {
        await this.js.publish(subject, data, { msgID, timeout: this.opts.publishTimeoutMs ?? 5000 });
        return;
      } catch (err) {
        this.log.warn({ err, msgID }, "record not stored by JetStream; keeping it in the outbox");
      }
    }
    // While older records wait, a new one goes behind them, so records of one invocation keep their order.
    this.append({ subject, msgID, data });
  }

  private append(entry: Entry): void {
    try {
      appendFileSync(this.file, `${JSON.stringify(entry)}\n`);
      const fd = openSync(this.file, "r+");
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      this.pending++;
      this.schedule();
    } catch (err) {
      this.log.error({ err, msgID: entry.msgID, file: this.file }, "writing a record to the outbox failed: it is lost");
    }
  }

  private readAll(): Entry[] {
    if (!existsSync(this.file)) return [];
    const out: Entry[] = [];
    for (const line of readFileSync(this.file, "utf8").split("\n")) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line) as Entry);
      } catch {
        // a line torn by a crash mid-append: the record before the tear was fsynced, this one was not acked
      }
    }
    return out;
  }

  private schedule(): void {
    if (this.stopped || this.timer || this.pending === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.draining ??= this.drain().finally(() => {
        this.draining = undefined;
        this.schedule();
      });
    }, this.opts.retryMs ?? 1000);
    this.timer.unref();
  }

  /** Publishes the file's records in order; stops at the first failure and keeps the rest. */
  private async drain(): Promise<void> {
    const entries = this.readAll();
    let done = 0;
    for (const e of entries) {
      try {
        await this.js.publish(e.subject, e.data, { msgID: e.msgID, timeout: this.opts.publishTimeoutMs ?? 5000 });
        done++;
      } catch {
        break;
      }
    }
    if (done === 0 && entries.length > 0) return;
    // Records appended while we published stay: rewrite the file with everything after what was stored.
    const now = this.readAll();
    const rest = now.slice(done);
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, rest.map((e) => `${JSON.stringify(e)}\n`).join(""));
    const fd = openSync(tmp, "r+");
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.file);
    this.pending = rest.length;
    if (done > 0) this.log.info({ published: done, left: rest.length }, "outbox records stored");
  }

  /** Tries once more to empty the outbox, then stops; what is left stays on disk for the next run. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.draining;
    if (this.pending > 0) await this.drain().catch(() => {});
  }
}
