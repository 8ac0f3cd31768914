// Reads one durable JetStream consumer until stopped. A failure (the server restarting, the consumer not declared
// yet) re-opens it after a pause instead of ending the loop; messages are handled one at a time, in order.
// The job reaper and the retry scheduler each read their stream through one.
import type { ConsumerMessages, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";

export interface DurableSource {
  stream: string;
  consumer: string;
  /** How many messages the server may push ahead of the handler. */
  maxMessages: number;
  /** Names the source in the log ("job advisories", "scheduled jobs"). */
  what: string;
}

const REOPEN_AFTER_MS = 1000;

export class DurableReader {
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;

  constructor(
    private readonly js: JetStreamClient,
    private readonly source: DurableSource,
    private readonly handle: (m: JsMsg) => Promise<void>,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.messages?.close();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        const consumer = await this.js.consumers.get(this.source.stream, this.source.consumer);
        this.messages = await consumer.consume({ max_messages: this.source.maxMessages });
        for await (const m of this.messages) await this.handle(m);
      } catch (err) {
        if (this.stopping) return;
        this.log.warn({ err }, `reading ${this.source.what} failed; retrying`);
      }
      if (!this.stopping) await new Promise((r) => setTimeout(r, REOPEN_AFTER_MS));
    }
  }
}
