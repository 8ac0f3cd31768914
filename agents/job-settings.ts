// The jobs consumer's ack wait and max deliveries, as the server has them: the controller owns them, and an
// agent decides nak-or-term and how often to say "still working" from these, never from its own config.
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../shared/logger.js";
import { readJobSettings, type JobSettings } from "../shared/nats.js";

const REFRESH_MS = 30_000;

export class LiveJobSettings implements JobSettings {
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly nc: NatsConnection,
    private current: JobSettings,
    private readonly log: Logger,
  ) {}

  static async start(nc: NatsConnection, first: JobSettings, log: Logger): Promise<LiveJobSettings> {
    const s = new LiveJobSettings(nc, first, log);
    s.timer = setInterval(() => void s.refresh(), REFRESH_MS);
    s.timer.unref();
    void (async () => {
      for await (const status of nc.status()) if (status.type === "reconnect") void s.refresh();
    })().catch(() => {});
    return s;
  }

  get ackWaitMs(): number {
    return this.current.ackWaitMs;
  }

  get maxDeliver(): number {
    return this.current.maxDeliver;
  }

  async refresh(): Promise<void> {
    try {
      const next = await readJobSettings(this.nc);
      if (next.ackWaitMs !== this.current.ackWaitMs || next.maxDeliver !== this.current.maxDeliver) {
        this.log.info({ from: this.current, to: next }, "the jobs consumer's settings changed on the server");
      }
      this.current = next;
    } catch (err) {
      this.log.warn({ err }, "reading the jobs consumer's settings failed; keeping the last ones");
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
