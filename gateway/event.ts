// The checks every front door (HTTP, gRPC, NATS) applies to an invocation's event, with the same errors.
import { WeftError, invalid } from "../shared/errors.js";
import { jsonDepth } from "../shared/json-depth.js";
import { LIMITS } from "../shared/limits.js";

const EMPTY_EVENT = new TextEncoder().encode("{}");

/** The refusal of an event nested deeper than LIMITS.jsonDepth, the same on every front door. */
export function eventTooDeep(): WeftError {
  return invalid("event", `nested deeper than ${LIMITS.jsonDepth} levels of arrays and objects (the limit)`);
}

/**
 * The event must be JSON within the payload limit and the nesting limit; an empty body is the event {}. The depth
 * is checked before anything parses the text: N levels take at least N bytes, so a shorter event is not scanned.
 */
export function checkEvent(event: Uint8Array): Uint8Array {
  if (event.byteLength > LIMITS.payloadBytes) {
    throw new WeftError("PAYLOAD_TOO_LARGE", `event: ${event.byteLength} bytes is over the limit of ${LIMITS.payloadBytes} bytes`, "event");
  }
  if (event.byteLength > LIMITS.jsonDepth && jsonDepth(event, LIMITS.jsonDepth) > LIMITS.jsonDepth) throw eventTooDeep();
  const text = Buffer.from(event.buffer, event.byteOffset, event.byteLength).toString("utf8");
  if (text.trim() === "") return EMPTY_EVENT;
  try {
    JSON.parse(text);
  } catch (err) {
    throw invalid("event", `not valid JSON (${(err as Error).message})`);
  }
  return event;
}
