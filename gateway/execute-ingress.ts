// The NATS front door of ad-hoc execution: a request to weft.execute with the JSON body of POST /v1/execute gets the
// result object, or {error} with header Weft-Error-Code. The rate limit's client is the requester's inbox prefix
// (its connection), since NATS does not tell a subscriber the client's address.
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { asWeftError, WeftError } from "../shared/errors.js";
import { respondWithError } from "../shared/error-reply.js";
import type { Logger } from "../shared/logger.js";
import { EXECUTE_SUBJECT } from "../shared/subjects.js";
import type { Executor } from "./executor.js";
import { QueueSubscription } from "./queue-subscription.js";

export class ExecuteIngress {
  private readonly sub: QueueSubscription;

  constructor(
    nc: NatsConnection,
    private readonly executor: Executor,
    private readonly log: Logger,
  ) {
    this.sub = new QueueSubscription(nc, EXECUTE_SUBJECT, (msg) => this.handle(msg), log, "NATS execute");
  }

  stop(connected: boolean): Promise<void> {
    return this.sub.stop(connected);
  }

  private async handle(msg: Msg): Promise<void> {
    if (!msg.reply) return; // the result is the point: a plain publish has nowhere to go
    try {
      let body: unknown;
      try {
        body = msg.json();
      } catch {
        throw new WeftError("INVALID_ARGUMENT", "body: is not JSON", "body");
      }
      msg.respond(await this.executor.execute(body, clientOf(msg.reply), "nats"));
    } catch (err) {
      const e = asWeftError(err);
      this.log.warn({ code: e.code, reason: e.message }, "NATS execute refused");
      try {
        respondWithError(msg, e);
      } catch (respondErr) {
        this.log.warn({ err: respondErr }, "could not send the error reply");
      }
    }
  }
}

/** `_INBOX.<connection nuid>.<request>` → `_INBOX.<connection nuid>`: one client per connection. */
function clientOf(reply: string): string {
  const parts = reply.split(".");
  return parts.length > 2 ? parts.slice(0, 2).join(".") : reply;
}
