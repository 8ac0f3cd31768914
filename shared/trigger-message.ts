// What a handler learns of the NATS message that started it through a subject or stream trigger: its subject and
// headers, as `context.subject` and `context.headers` (README "Triggers"). The message is untrusted: a producer
// may send any number of headers of any size, so they are bounded here, once, for the gateway and the agent alike.
import type { MsgHdrs } from "@nats-io/transport-node";
import { z } from "zod";
import { invalid, type WeftError } from "./errors.js";
import { LIMITS } from "./limits.js";

/** A NATS header name as the protocol allows it: printable ASCII without ':' or spaces. */
const HeaderName = z.string().regex(/^[!-9;-~]{1,256}$/, "must be a header name");

/** Carried on the job (header Weft-Message) and handed to the runner in the run frame's ctx. */
export const TriggerMessage = z.strictObject({
  subject: z.string().min(1).max(LIMITS.triggerMessage.subjectBytes),
  headers: z.record(HeaderName, z.string()),
});
export type TriggerMessage = z.infer<typeof TriggerMessage>;

/**
 * The message's subject and headers as the handler sees them: each name once, a header sent with several values
 * gets them joined by ", " (as Node's HTTP module does). Throws INVALID_ARGUMENT (field `headers`) past the limits:
 * more than LIMITS.triggerMessage.headers names, or more than its bytes as JSON.
 */
export function triggerMessageOf(subject: string, h: MsgHdrs | undefined): TriggerMessage {
  const headers: Record<string, string> = {};
  const names = h ? h.keys() : [];
  if (names.length > LIMITS.triggerMessage.headers) throw tooMany(names.length);
  for (const name of names) headers[name] = h!.values(name).join(", ");
  const message = { subject, headers };
  const parsed = TriggerMessage.safeParse(message);
  if (!parsed.success) throw invalid("headers", `the message's ${parsed.error.issues[0]?.path.join(".") ?? "headers"} is not valid: ${parsed.error.issues[0]?.message ?? ""}`);
  const bytes = Buffer.byteLength(JSON.stringify(message));
  if (bytes > LIMITS.triggerMessage.bytes) {
    throw invalid("headers", `the message's subject and headers are ${bytes} bytes as JSON; at most ${LIMITS.triggerMessage.bytes} reach a handler`);
  }
  return parsed.data;
}

function tooMany(n: number): WeftError {
  return invalid("headers", `the message has ${n} headers; at most ${LIMITS.triggerMessage.headers} reach a handler`);
}

/** Reads the job header back (the agent's side): undefined for one absent, malformed or past the limits. */
export function parseTriggerMessage(text: string | undefined): TriggerMessage | undefined {
  if (!text || text.length > LIMITS.triggerMessage.bytes * 6) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = TriggerMessage.safeParse(value);
  if (!parsed.success) return undefined;
  if (Object.keys(parsed.data.headers).length > LIMITS.triggerMessage.headers) return undefined;
  return Buffer.byteLength(JSON.stringify(parsed.data)) <= LIMITS.triggerMessage.bytes ? parsed.data : undefined;
}
