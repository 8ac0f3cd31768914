// Invocation records leave the agent in batches: the records of every job that finishes within one turn of the
// event loop (or while the previous batch is being stored) travel as one WEFT_RECORDS message, a JSON array on
// RECORD_BATCH_SUBJECT. One publish, one stored message, one PubAck and one controller ack for many invocations,
// instead of one each. A record is durable when its batch is (stored by JetStream, or in the outbox on disk), and
// only then does the job that produced it get acked (README "Delivery promises").
import { randomBytes } from "node:crypto";
import type { RecordEvent } from "../shared/schemas/invocation.js";
import { RECORD_BATCH_SUBJECT } from "../shared/subjects.js";
import type { RecordOutbox } from "./record-outbox.js";

export interface RecordBatchOptions {
  /** Records per message at most. */
  maxRecords?: number;
  /** Bytes per message at most (well inside the NATS max payload; a record is at most a few hundred KiB). */
  maxBytes?: number;
}

interface Queued {
  json: string;
  stored: () => void;
}

export class RecordBatcher {
  /** The batch filling now, and full ones waiting for their turn (at most one batch is being stored at a time). */
  private queue: Queued[] = [];
  private ready: Queued[][] = [];
  private bytes = 0;
  private flushing: Promise<void> | undefined;
  private scheduled = false;
  private seq = 0;
  /** Batch ids are unique per agent run: the outbox re-publishes a batch under the same id, and JetStream drops the copy. */
  private readonly run = randomBytes(6).toString("hex");
  private readonly maxRecords: number;
  private readonly maxBytes: number;

  constructor(
    private readonly outbox: RecordOutbox,
    private readonly agentId: string,
    opts: RecordBatchOptions = {},
  ) {
    this.maxRecords = opts.maxRecords ?? 256;
    this.maxBytes = opts.maxBytes ?? 4 * 1024 * 1024;
  }

  /** Resolves once the record is durable (its batch stored by JetStream or written to the outbox). Never throws. */
  add(record: RecordEvent): Promise<void> {
    const json = JSON.stringify(record);
    return new Promise<void>((stored) => {
      if (this.bytes + json.length > this.maxBytes) this.cut();
      this.queue.push({ json, stored });
      this.bytes += json.length;
      if (this.queue.length >= this.maxRecords) this.cut();
      this.schedule();
    });
  }

  private cut(): void {
    if (this.queue.length === 0) return;
    this.ready.push(this.queue);
    this.queue = [];
    this.bytes = 0;
  }

  /** A batch goes out at the end of this turn; while one is being stored, the next one fills. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.flushing) return; // the batch in flight takes the next one when it is done
      this.cut();
      void this.pump();
    });
  }

  private pump(): Promise<void> {
    this.flushing ??= (async () => {
      try {
        for (;;) {
          if (this.ready.length === 0) this.cut();
          const batch = this.ready.shift();
          if (!batch) return;
          await this.store(batch);
        }
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }

  private async store(batch: Queued[]): Promise<void> {
    const data = `[${batch.map((q) => q.json).join(",")}]`;
    await this.outbox.publish(RECORD_BATCH_SUBJECT, data, `${this.agentId}.${this.run}.${this.seq++}`);
    for (const q of batch) q.stored();
  }
}
