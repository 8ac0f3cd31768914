// The gateway's end of the direct sync path (WEFT_SYNC_PATH=direct): a synchronous HTTP or gRPC call goes to one
// agent as a core NATS request on weft.direct.{fn}, with no job stored in JetStream and no PubAck on its way. The
// agent answers with the result object, or hands the call back when it cannot run it now (agents/direct-intake.ts),
// and so does the lack of any agent listening: the invoker then queues the call on WEFT_JOBS as the queue path does.
// A call sent to one agent by name (its function's home, direct-affinity.ts) that no agent listens for is tried once
// more on the queue group's subject before it is queued.
// Nothing is stored before the agent's final record, so a direct call is run at most once (README "Delivery").
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { WeftError } from "../shared/errors.js";
import { errorInReply } from "../shared/error-reply.js";
import { HEADERS } from "../shared/headers.js";
import type { ReplyInbox } from "./reply-inbox.js";

export type DirectOutcome =
  /** The agent's InvocationResult JSON, untouched. */
  | { kind: "result"; result: Uint8Array }
  /** The agent could not run it now: queue it. */
  | { kind: "handed-back" }
  /** No agent listens on the subject (the server's no-responders status). */
  | { kind: "no-agent" };

export interface DirectCall {
  /** weft.direct.{fn} (any agent of the queue group) or weft.direct.{fn}.{agent id} (that agent). */
  subject: string;
  invocationId: string;
  event: Uint8Array;
  headers: MsgHdrs;
  /** How long the caller waits; sent with the call (Weft-Wait-Ms), so the agent starts only what ends within it. */
  waitMs: number;
}

const HANDED_BACK: DirectOutcome = { kind: "handed-back" };
const NO_AGENT: DirectOutcome = { kind: "no-agent" };

/** Sends the call to one agent; the answer comes back to this gateway's reply inbox (no request of its own). */
export async function callDirect(nc: NatsConnection, inbox: ReplyInbox, call: DirectCall): Promise<DirectOutcome> {
  const { answer, cancel } = inbox.expectDirect(call.invocationId, call.waitMs);
  call.headers.set(HEADERS.waitMs, String(call.waitMs));
  try {
    nc.publish(call.subject, call.event, { headers: call.headers, reply: inbox.directSubjectFor(call.invocationId) });
  } catch (err) {
    cancel();
    throw new WeftError("UNAVAILABLE", `the direct call to an agent could not be sent (NATS: ${(err as Error).message})`, undefined, { cause: err });
  } finally {
    call.headers.delete(HEADERS.waitMs); // a handed-back call is queued without it
  }
  const msg = await answer;
  if (!msg) throw silence(call);
  // No agent listens on the subject: the server's 503 status, with no body.
  if (msg.data.length === 0 && msg.headers?.code === 503) return NO_AGENT;
  if (msg.headers?.get(HEADERS.handBack)) return HANDED_BACK;
  const refused = errorInReply(msg.headers, msg.data, "an agent");
  if (refused) throw refused;
  return { kind: "result", result: msg.data };
}

/**
 * The agent that took the call did not answer within the caller's wait. It starts a direct call only if its run
 * ends well within that wait, and hands back in time any it cannot start: silence means it was lost (killed, cut
 * off), and a direct call is not run again.
 */
function silence(call: DirectCall): WeftError {
  return new WeftError(
    "DEADLINE_EXCEEDED",
    `the agent running invocation ${call.invocationId} did not answer within ${call.waitMs} ms and was probably lost; a direct call is not run again (it may have run: look it up)`,
    undefined,
    { invocationId: call.invocationId },
  );
}
