// NATS header names carried on jobs and invocation requests.
export const HEADERS = {
  invocationId: "Weft-Invocation-Id",
  /**
   * The version to run. A gateway always sends the one it resolved (the latest, or the one the caller pinned), so
   * a redelivered job runs the same version; a job published straight to JetStream without it runs the latest.
   */
  version: "Weft-Version",
  /** On a NATS request to weft.invoke.{fn}: run the version this alias points to (split by its weights). */
  alias: "Weft-Alias",
  /** The function's incarnation the gateway resolved: a job of a deleted (or deleted and re-created) function never runs. */
  incarnation: "Weft-Incarnation",
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
  /**
   * Which retry after a handler failure a job is (absent: 0, the first try; README "Async semantics"). A retry is a
   * new job; a platform redelivery of the same job keeps its number, so it never counts against async.maxRetries.
   */
  retry: "Weft-Retry",
  /** JSON list of the earlier attempts' outcomes (AttemptList), carried on a retry so the final record shows all. */
  attempts: "Weft-Attempts",
  /** On a scheduled retry (WEFT_RETRIES): epoch ms before which it must not start. */
  dueAt: "Weft-Due-At",
  /** Functions invoked one from another's destination so far (0 for a call from a client): loop detection. */
  chainDepth: "Weft-Chain-Depth",
  /** On a destination message and a dead letter: the function, its version, the invocation and its status. */
  functionName: "Weft-Function",
  status: "Weft-Status",
  /** On a dead letter: why it is there (DeadLetterReason) and the error code of the last attempt. */
  deadReason: "Weft-Dead-Reason",
  /** On a job a subject or stream trigger started: the message's subject and headers as JSON (TriggerMessage). */
  message: "Weft-Message",
  /**
   * On an agent's answer to a direct sync call (weft.direct.{fn}) that it did not run to an outcome (no slot, no
   * container, draining): the gateway queues the call on WEFT_JOBS instead, where it is at least once.
   */
  handBack: "Weft-Hand-Back",
  /**
   * On a direct sync call: how long (ms, from sending) the gateway waits for its answer. The agent starts the call
   * only if it can end well within that, and hands it back otherwise, so an answer or a hand-back always comes in time.
   */
  waitMs: "Weft-Wait-Ms",
  /** Set by a NATS service reply carrying an error object instead of a result. */
  errorCode: "Weft-Error-Code",
} as const;
