// Reading a request body with a hard limit: refused from Content-Length when it declares too much, and
// otherwise cut off as soon as the bytes received pass the limit. Nothing past the limit is ever buffered.
import type { IncomingMessage } from "node:http";
import { WeftError, invalid } from "../shared/errors.js";

/** Marks a request whose body was not read to the end, so its connection must not be reused. */
export class BodyAbandoned extends WeftError {}

function tooLarge(what: string, limit: number): WeftError {
  return new BodyAbandoned("PAYLOAD_TOO_LARGE", `${what}: the body is over the limit of ${limit} bytes`, what);
}

export async function readBody(req: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  checkEncoding(req);
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) throw tooLarge(what, limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(what, limit);
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
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
