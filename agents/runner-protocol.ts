// The agent ↔ runner protocol (OpenWhisk-like: init once, run many), pure encoding and framing, no I/O.
//
// Transport: the container's stdin and its attached stdout/stderr (Tty false, so Docker multiplexes
// stdout and stderr into one stream with 8-byte headers; AttachDemuxer splits them).
// - agent → runner, on stdin, one JSON object per line:
//     {"t":"init","code","env","functionName","version","memoryMb","timeoutMs","concurrency","logBytes"}
//     {"t":"run","id","ctx":{invocationId,functionName,version,memoryMb,deadline,traceId},"event":<raw JSON>}
// - runner → agent, on stdout only, lines `<token> <json>` where token is WEFT_FRAME_TOKEN, random per container:
//     {"t":"ready"}, {"t":"init_ok","logs"}, {"t":"init_error","error","logs"},
//     {"t":"result","id","ok":true,"output","logs","logsTruncated"} | {"t":"result","id","ok":false,"error","logs",...}
// The runner writes frames to fd 3 and points fd 1 and 2 at stderr, so everything else any process in the
// container writes is stray output: it is attributed to the running invocation's logs and counted.
// Before each result the runner writes `<token> {"t":"end","id"}` on stderr, after all of that run's output
// there: a run is complete once both its result (stdout) and its end marker (stderr) have arrived.
import { randomBytes } from "node:crypto";
import type { FunctionDefinition } from "../shared/schemas/function.js";

export interface RunContext {
  invocationId: string;
  functionName: string;
  version: number;
  memoryMb: number;
  /** Epoch ms after which the agent kills the invocation. */
  deadline: number;
  traceId: string;
}

/** An error as a runner reports it: the exception's class, message and stack. */
export interface RunnerError {
  type: string;
  message: string;
  stack?: string;
}

export type RunnerFrame =
  | { t: "ready"; runtime?: string; pid?: number }
  | { t: "init_ok"; logs?: string; logsTruncated?: boolean }
  | { t: "init_error"; error: RunnerError; logs?: string; logsTruncated?: boolean }
  | { t: "result"; id: string; ok: true; output: unknown; logs: string; logsTruncated?: boolean }
  | { t: "result"; id: string; ok: false; error: RunnerError; logs: string; logsTruncated?: boolean }
  | { t: "end"; id: string };

/** The env variable through which a container learns its frame token. */
export const FRAME_TOKEN_ENV = "WEFT_FRAME_TOKEN";

export const newFrameToken = (): string => randomBytes(12).toString("hex");

export function encodeInit(def: FunctionDefinition, logBytes: number): string {
  return (
    JSON.stringify({
      t: "init",
      code: def.code,
      env: def.env,
      functionName: def.name,
      version: def.version,
      memoryMb: def.limits.memoryMb,
      timeoutMs: def.limits.timeoutMs,
      concurrency: def.concurrency,
      logBytes,
    }) + "\n"
  );
}

const LINE_BREAK = /[\r\n]/g;

/**
 * The run frame, built by concatenation so the event's bytes are passed on, not parsed and re-serialised.
 * `eventJson` must be valid JSON text (see isJsonText): a line break in valid JSON can only be whitespace
 * between tokens (never inside a string), so it is replaced by a space to keep the frame on one line.
 */
export function encodeRun(id: string, ctx: RunContext, eventJson: string): string {
  const event = eventJson.length === 0 ? "null" : eventJson.replace(LINE_BREAK, " ");
  return `{"t":"run","id":${JSON.stringify(id)},"ctx":${JSON.stringify(ctx)},"event":${event}}\n`;
}

/** True when `text` is one JSON value (empty text counts: it is sent as null). */
export function isJsonText(text: string): boolean {
  if (text.length === 0) return true;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function parseFrame(json: string): RunnerFrame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const t = (value as { t?: unknown }).t;
  if (t === "ready" || t === "init_ok" || t === "init_error") return value as RunnerFrame;
  if ((t === "result" || t === "end") && typeof (value as { id?: unknown }).id === "string") return value as RunnerFrame;
  return undefined;
}

export interface FrameSink {
  frame(frame: RunnerFrame): void;
  /** Text on stdout that is not a frame. */
  stray(text: string): void;
}

/** Splits the runner's stdout into lines and picks out the frames that carry the container's token. */
export class FrameReader {
  private readonly prefix: string;
  private pending: Buffer[] = [];

  constructor(
    token: string,
    private readonly sink: FrameSink,
  ) {
    this.prefix = `${token} `;
  }

  feed(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      const line = this.pending.length ? Buffer.concat([...this.pending, piece]) : piece;
      this.pending = [];
      this.line(line.toString("utf8"));
      start = nl + 1;
    }
    if (start < chunk.length) this.pending.push(chunk.subarray(start));
  }

  /** Bytes held waiting for a line end (counted against the output cap by the caller). */
  get pendingBytes(): number {
    let n = 0;
    for (const b of this.pending) n += b.length;
    return n;
  }

  private line(text: string): void {
    // Stray text that lacked a line end can precede a frame on the same line.
    const at = text.startsWith(this.prefix) ? 0 : text.indexOf(`${this.prefix}{`);
    if (at === -1) {
      this.sink.stray(`${text}\n`);
      return;
    }
    if (at > 0) this.sink.stray(text.slice(0, at));
    const frame = parseFrame(text.slice(at + this.prefix.length));
    if (frame) this.sink.frame(frame);
    else this.sink.stray(`${text.slice(at)}\n`);
  }
}

const HEADER_BYTES = 8;

/**
 * Splits Docker's multiplexed attach stream (Tty false): each block is an 8-byte header
 * [stream, 0, 0, 0, size uint32 BE] followed by `size` bytes of stdout (1) or stderr (2).
 * Payload is passed on as it arrives, never gathered, so a large output costs no copying here.
 */
export class AttachDemuxer {
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerFill = 0;
  private remaining = 0;
  private stream = 1;

  constructor(
    private readonly onStdout: (chunk: Buffer) => void,
    private readonly onStderr: (chunk: Buffer) => void,
  ) {}

  feed(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.remaining === 0) {
        const n = Math.min(HEADER_BYTES - this.headerFill, chunk.length - off);
        chunk.copy(this.header, this.headerFill, off, off + n);
        this.headerFill += n;
        off += n;
        if (this.headerFill < HEADER_BYTES) return;
        this.headerFill = 0;
        this.stream = this.header[0]!;
        this.remaining = this.header.readUInt32BE(4);
        continue;
      }
      const n = Math.min(this.remaining, chunk.length - off);
      const payload = chunk.subarray(off, off + n);
      if (this.stream === 2) this.onStderr(payload);
      else this.onStdout(payload);
      this.remaining -= n;
      off += n;
    }
  }
}
