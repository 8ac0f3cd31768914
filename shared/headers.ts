// NATS header names carried on jobs and invocation requests.
export const HEADERS = {
  invocationId: "Weft-Invocation-Id",
  /** A pinned version; absent means "the latest when the agent starts it". */
  version: "Weft-Version",
  /** Where the agent sends the result object (a sync caller's inbox). */
  replyTo: "Weft-Reply-To",
  /** Epoch ms at which the gateway accepted the invocation. */
  enqueuedAt: "Weft-Enqueued-At",
  /** On a NATS request to weft.invoke.{fn}: answer {invocationId} once queued instead of waiting. */
  async: "Weft-Async",
  /** JetStream de-duplication id (the invocation id), so a retried publish is stored once. */
  msgId: "Nats-Msg-Id",
  traceparent: "traceparent",
  tracestate: "tracestate",
  /** Set by a NATS service reply carrying an error object instead of a result. */
  errorCode: "Weft-Error-Code",
} as const;
