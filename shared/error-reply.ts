// Errors over NATS request-reply: a service that refuses a request answers {error} with the Weft-Error-Code header
// (gateways to NATS requesters, agents to gateways); the requester turns such an answer back into the WeftError.
import { headers as natsHeaders, type Msg, type MsgHdrs } from "@nats-io/transport-node";
import { WeftError, type ErrorBody } from "./errors.js";
import { HEADERS } from "./headers.js";

/** Answers the request with the error; throws only if the connection cannot send (the requester then times out). */
export function respondWithError(msg: Msg, err: WeftError): void {
  const h = natsHeaders();
  h.set(HEADERS.errorCode, err.code);
  msg.respond(JSON.stringify({ error: err.toBody() }), { headers: h });
}

/** The WeftError a reply carries, or undefined when it is not an error reply. */
export function errorInReply(headers: MsgHdrs | undefined, data: Uint8Array, from: string): WeftError | undefined {
  if (!headers?.get(HEADERS.errorCode)) return undefined;
  try {
    return WeftError.fromBody((JSON.parse(Buffer.from(data).toString("utf8")) as { error: ErrorBody }).error);
  } catch {
    return new WeftError("INTERNAL", `${from} refused with a malformed error`);
  }
}
