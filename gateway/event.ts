// The checks every front door (HTTP, gRPC, NATS) applies to an invocation's event, with the same errors.
import { WeftError, invalid } from "../shared/errors.js";
import { scanJson } from "../shared/json-scan.js";
import { LIMITS } from "../shared/limits.js";

const EMPTY_EVENT = new TextEncoder().encode("{}");

/** The refusal of an event nested deeper than LIMITS.jsonDepth, the same on every front door. */
export function eventTooDeep(): WeftError {
  return invalid("event", `nested deeper than ${LIMITS.jsonDepth} levels of arrays and objects (the limit)`);
}

const isJsonSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * The event must be one JSON value within the payload limit and the nesting limit; an empty body is the event {}.
 * One scan of the bytes, without recursion or allocating a tree: JSON.parse would spend up to 80 ms per MiB
 * building arrays nobody reads (a 6 MiB body of `[],[],…`), and the event goes on to the agent as the bytes it came as.
 */
export function checkEvent(event: Uint8Array): Uint8Array {
  if (event.byteLength > LIMITS.payloadBytes) {
    throw new WeftError("PAYLOAD_TOO_LARGE", `event: ${event.byteLength} bytes is over the limit of ${LIMITS.payloadBytes} bytes`, "event");
  }
  if (event.every(isJsonSpace)) return EMPTY_EVENT;
  const scan = scanJson(event, LIMITS.jsonDepth);
  if (scan.ok) return event;
  if (scan.reason === "depth") throw eventTooDeep();
  throw invalid("event", `not valid JSON (at byte ${scan.at})`);
}
