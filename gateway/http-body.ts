// Reading a request body with a hard limit. Nothing past the limit is ever buffered, but an over-limit body is still
// read and thrown away (up to LIMITS.overLimitDrainBytes in all) before the 413 goes out: many clients (Node's fetch
// among them) send the whole body before they read the answer, and a connection closed under them shows up as EPIPE
// or a reset instead of the 413.
import type { IncomingMessage } from "node:http";
import { WeftError, invalid } from "../shared/errors.js";
import { LIMITS } from "../shared/limits.js";

/** Marks a request whose body was not read to the end, so its connection must not be reused. */
export class BodyAbandoned extends WeftError {}

type Received = { kind: "body"; body: Buffer } | { kind: "over"; complete: boolean };

export async function readBody(req: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  checkEncoding(req);
  const declared = Number(req.headers["content-length"] ?? 0);
  const got = declared > LIMITS.overLimitDrainBytes ? { kind: "over", complete: false } as const : await receive(req, limit, declared > limit);
  if (got.kind === "body") return got.body;
  const message = `${what}: the body is over the limit of ${limit} bytes`;
  // A body read to its end leaves the connection clean for the next request; one cut short does not.
  throw got.complete ? new WeftError("PAYLOAD_TOO_LARGE", message, what) : new BodyAbandoned("PAYLOAD_TOO_LARGE", message, what);
}

/**
 * Collects the body while it is within `limit`; past it, keeps reading without keeping anything, until the body ends
 * or LIMITS.overLimitDrainBytes have come in.
 */
function receive(req: IncomingMessage, limit: number, overAlready: boolean): Promise<Received> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = overAlready;
    const finish = (outcome: Received | Error) => {
      req.off("data", onData).off("end", onEnd).off("error", onCut).off("close", onCut);
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
      } else if (!over) chunks.push(chunk);
      if (size > LIMITS.overLimitDrainBytes) {
        req.pause();
        finish({ kind: "over", complete: false });
      }
    };
    const onEnd = () => finish(over ? { kind: "over", complete: true } : { kind: "body", body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) });
    // The client went away mid-body: nobody is left to answer, so this only has to end the request quietly.
    const onCut = () => finish(new BodyAbandoned("INVALID_ARGUMENT", "the request body was cut off before its end", "body"));
    req.on("data", onData).on("end", onEnd).on("error", onCut).on("close", onCut);
  });
}

/** Bodies are plain JSON; a compressed body would need unbounded inflating to check its size. */
function checkEncoding(req: IncomingMessage): void {
  const enc = req.headers["content-encoding"];
  if (enc && enc.toLowerCase() !== "identity") {
    throw new BodyAbandoned("UNSUPPORTED_MEDIA_TYPE", `content-encoding ${enc} is not supported; send plain JSON`, "content-encoding");
  }
}

/** Parses a JSON body; `field` names it in the error (e.g. "body"). */
export function parseJson(body: Buffer, field: string): unknown {
  const text = body.toString("utf8");
  if (text.trim() === "") throw invalid(field, "is empty; a JSON object is required");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalid(field, `not valid JSON (${(err as Error).message})`);
  }
}
