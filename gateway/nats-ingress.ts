// The NATS front door: any client publishing a JSON event to weft.invoke.{name} runs the function. A request
// (with a reply subject) gets the result object from the agent directly; with header Weft-Async: true it gets
// {invocationId, status: "queued"} once the job is stored; a plain publish is queued like an async call.
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { asWeftError, invalid } from "../shared/errors.js";
import { HEADERS } from "../shared/headers.js";
import { respondWithError } from "../shared/error-reply.js";
import type { Logger } from "../shared/logger.js";
import { INVOKE_SUBJECT_PREFIX, INVOKE_WILDCARD } from "../shared/subjects.js";
import * as args from "./arguments.js";
import type { InvocationInput, Invoker } from "./invoker.js";
import { QueueSubscription } from "./queue-subscription.js";
import { idempotencyKey } from "./idempotency.js";

export class NatsIngress {
  private readonly sub: QueueSubscription;

  constructor(
    nc: NatsConnection,
    private readonly invoker: Invoker,
    private readonly log: Logger,
  ) {
    this.sub = new QueueSubscription(nc, INVOKE_WILDCARD, (msg) => this.handle(msg), log, "NATS ingress");
  }

  /** Stops taking new invocations (other gateways in the queue group take them) after those received are handled. */
  stop(connected: boolean): Promise<void> {
    return this.sub.stop(connected);
  }

  private async handle(msg: Msg): Promise<void> {
    try {
      const input = inputOf(msg);
      if (!msg.reply) {
        const accepted = await this.invoker.invokeAsync(input);
        this.log.debug({ invocationId: accepted.invocationId, fn: input.name }, "queued from a NATS publish");
      } else if (isAsync(msg)) {
        msg.respond(JSON.stringify(await this.invoker.invokeAsync(input)));
      } else {
        await this.invoker.forward(input, msg.reply);
      }
    } catch (err) {
      this.refuse(msg, err);
    }
  }

  private refuse(msg: Msg, err: unknown): void {
    const e = asWeftError(err);
    const level = e.code === "INTERNAL" ? "error" : "warn";
    this.log[level]({ err: e.code === "INTERNAL" ? err : undefined, subject: msg.subject, code: e.code, reason: e.message }, "NATS invocation refused");
    if (!msg.reply) return;
    try {
      respondWithError(msg, e);
    } catch (err) {
      // The connection closed under us (shutdown or outage): the requester times out, which is all NATS allows.
      this.log.warn({ err, subject: msg.subject }, "could not send the error reply");
    }
  }
}

function inputOf(msg: Msg): InvocationInput {
  const name = args.functionName(msg.subject.slice(INVOKE_SUBJECT_PREFIX.length + 1));
  const pinned = msg.headers?.get(HEADERS.version);
  let version: number | undefined;
  if (pinned) {
    if (!/^\d{1,9}$/.test(pinned)) throw invalid(HEADERS.version, "must be a whole number");
    version = args.version(Number(pinned), HEADERS.version);
  }
  const alias = args.optionalAlias(msg.headers?.get(HEADERS.alias) || undefined, HEADERS.alias);
  return {
    name, event: msg.data, version, alias, via: "nats", traceparent: msg.headers?.get(HEADERS.traceparent) || undefined,
    // JetStream's own de-duplication header names the idempotency key here (README "Idempotency keys").
    idempotencyKey: idempotencyKey(msg.headers?.get(HEADERS.msgId) || undefined, HEADERS.msgId),
  };
}

function isAsync(msg: Msg): boolean {
  const v = msg.headers?.get(HEADERS.async)?.toLowerCase();
  return v === "true" || v === "1";
}
