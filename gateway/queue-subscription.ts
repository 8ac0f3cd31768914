// A subscription in the gateways' queue group (weft.invoke.*, weft.execute): each message goes to one gateway, and
// stopping lets the messages already received be handled while the others go to the rest of the group.
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "../shared/logger.js";
import { GATEWAY_QUEUE } from "../shared/subjects.js";

export class QueueSubscription {
  private readonly sub: Subscription;

  constructor(nc: NatsConnection, subject: string, handle: (msg: Msg) => Promise<void>, log: Logger, what: string) {
    this.sub = nc.subscribe(subject, {
      queue: GATEWAY_QUEUE,
      callback: (err, msg) => {
        if (err) log.warn({ err, subject }, `${what} subscription error`);
        else void handle(msg);
      },
    });
  }

  /**
   * Stops taking new messages after those received are handled. Draining needs the server; with NATS down there is
   * nothing left to drain, so it just unsubscribes.
   */
  async stop(connected: boolean): Promise<void> {
    if (this.sub.isClosed()) return;
    if (connected) await this.sub.drain();
    else this.sub.unsubscribe();
  }
}
