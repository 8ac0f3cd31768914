// The agent ↔ runner protocol (deploy/images/PROTOCOL.md): encoding, framing and validation, no I/O.
//
// Every frame is a JSON header line followed by the payload segments the header names by length. The agent
// writes init and run frames to the container's stdin; the trusted runner (weft-runner, uid 0) answers on
// stdout. User code runs in a worker under another uid and cannot reach this channel, but the agent still
// treats every byte as untrusted: headers are parsed with zod, sizes are bounded before anything is kept,
// and any violation ends the calls in flight as RUNTIME_PROTOCOL_ERROR and retires the container.
import { z } from "zod";
import type { StoredDefinition } from "../shared/schemas/function.js";
import { bundleEnv } from "../shared/bundle.js";

export interface RunContext {
  invocationId: string;
  functionName: string;
  version: number;
  memoryMb: number;
  /** Epoch ms after which the agent kills the invocation. */
  deadline: number;
  traceId: string;
  /** 1 for the first delivery of the job. */
  attempt: number;
  /** Set when a subject or stream trigger's message started the invocation: its subject and headers. */
  subject?: string;
  headers?: Record<string, string>;
}

/** A header line longer than this is a protocol violation. */
export const MAX_HEADER_BYTES = 64 * 1024;

const Bytes = (max: number) => z.number().int().min(0).max(max);
const text = (max: number) => z.string().max(max);

export const RunnerError = z.object({
  type: text(200),
  message: text(16 * 1024),
  stack: text(32 * 1024).optional(),
});
export type RunnerError = z.infer<typeof RunnerError>;

const ExitInfo = z.object({
  code: z.number().int().optional(),
  signal: text(40).optional(),
  oom: z.boolean().optional(),
});
export type ExitInfo = z.infer<typeof ExitInfo>;

/** Limits the agent gives the runner at init; frames over them are violations. */
export interface FrameLimits {
  logBytes: number;
  outputBytes: number;
}

/** Runner → agent headers, one schema per frame type, all strict: an unknown field is a violation. */
export function runnerFrameSchema(limits: FrameLimits) {
  const logs = { logBytes: Bytes(limits.logBytes).default(0), logsTruncated: z.boolean().default(false) };
  const id = text(32);
  return z.discriminatedUnion("t", [
    z.strictObject({ t: z.literal("ready"), runtime: text(40).optional(), protocol: z.literal(2) }),
    z.strictObject({ t: z.literal("init_ok"), ...logs }),
    z.strictObject({ t: z.literal("init_error"), error: RunnerError, ...logs }),
    z.strictObject({
      t: z.literal("result"),
      id,
      ok: z.boolean(),
      outputBytes: Bytes(limits.outputBytes).default(0),
      error: RunnerError.optional(),
      exit: ExitInfo.optional(),
      retire: text(400).optional(),
      ...logs,
    }),
    z.strictObject({ t: z.literal("fault"), id, reason: text(400), retire: text(400).optional(), ...logs }),
    z.strictObject({ t: z.literal("refused"), id, reason: text(400), retire: text(400).optional() }),
    z.strictObject({ t: z.literal("retired"), reason: text(400) }),
    z.strictObject({
      t: z.literal("exec_result"),
      exitCode: z.number().int().optional(),
      signal: text(40).optional(),
      oom: z.boolean().optional(),
      stdoutBytes: Bytes(limits.logBytes),
      stderrBytes: Bytes(limits.logBytes),
      stdoutTruncated: z.boolean(),
      stderrTruncated: z.boolean(),
    }),
    z.strictObject({ t: z.literal("exec_error"), message: text(400) }),
  ]);
}
export type RunnerFrame = z.infer<ReturnType<typeof runnerFrameSchema>>;

type PlainResult = Extract<RunnerFrame, { t: "result" }>;
const PLAIN_RESULT_KEYS = new Set(["t", "id", "ok", "outputBytes", "logBytes", "logsTruncated"]);
const isBytes = (v: unknown, max: number): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;

/**
 * Every warm call ends with one frame: a result that succeeded, with no error, exit or retire. It is checked here
 * by hand, field by field against the same bounds as its schema (only these keys; id a string of at most 32; ok
 * true; byte counts whole numbers within the limits, 0 when absent; logsTruncated a boolean, false when absent), so
 * the common frame costs no schema walk. Anything else, including anything this check does not know, returns
 * undefined and goes through the schema, which decides.
 */
export function plainResult(v: unknown, limits: FrameLimits): PlainResult | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!PLAIN_RESULT_KEYS.has(key)) return undefined;
  if (o.t !== "result" || o.ok !== true || typeof o.id !== "string" || o.id.length > 32) return undefined;
  // Defaults apply to an absent field only (as zod's .default): a null is a violation.
  const outputBytes = o.outputBytes === undefined ? 0 : o.outputBytes;
  const logBytes = o.logBytes === undefined ? 0 : o.logBytes;
  const logsTruncated = o.logsTruncated === undefined ? false : o.logsTruncated;
  if (!isBytes(outputBytes, limits.outputBytes) || !isBytes(logBytes, limits.logBytes) || typeof logsTruncated !== "boolean") return undefined;
  return { t: "result", id: o.id, ok: true, outputBytes, logBytes, logsTruncated };
}

/** A frame with its payload: output (result frames) and logs, as bytes. */
export interface ReceivedFrame {
  frame: RunnerFrame;
  output: Buffer;
  logs: Buffer;
}

const line = (header: object): Buffer => Buffer.from(`${JSON.stringify(header)}\n`);

export function encodeInit(def: StoredDefinition, limits: FrameLimits): Buffer[] {
  const code = Buffer.from(def.compiled ?? def.code, "utf8"); // compiled: TypeScript's JavaScript
  const header = {
    t: "init",
    codeBytes: code.length,
    env: { ...def.env, ...bundleEnv(def) },
    concurrency: def.concurrency,
    logLimit: limits.logBytes,
    outputLimit: limits.outputBytes,
  };
  return [line(header), code];
}

/** Asks a stem cell to pre-start its interpreter for ad-hoc code (no answer; an init later discards it). */
export const encodeExecPrepare = (): Buffer[] => [line({ t: "exec_prepare" })];

/** The exec frame (ad-hoc code): the program, then its stdin; each output stream is cut at `logBytes`. */
export function encodeExec(code: string, stdin: string, logBytes: number): Buffer[] {
  const program = Buffer.from(code, "utf8");
  const input = Buffer.from(stdin, "utf8");
  return [line({ t: "exec", codeBytes: program.length, stdinBytes: input.length, logLimit: logBytes }), Buffer.concat([program, input])];
}

/** The run frame; the event's bytes are passed on as they are (the caller has checked they are JSON). */
export function encodeRun(id: string, ctx: RunContext, event: Uint8Array): Buffer[] {
  const body = event.length === 0 ? Buffer.from("null") : Buffer.from(event.buffer, event.byteOffset, event.length);
  return [line({ t: "run", id, ctx, eventBytes: body.length }), body];
}

export class ProtocolViolation extends Error {
  override name = "ProtocolViolation";
}

/**
 * Splits the runner's stdout into frames. Bytes are held only up to one header line plus the payload it
 * names, both bounded; anything else throws ProtocolViolation.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private held = 0;
  private header: RunnerFrame | undefined;
  private need = 0;
  private schema: ReturnType<typeof runnerFrameSchema>;

  constructor(
    private readonly limits: FrameLimits,
    private readonly onFrame: (f: ReceivedFrame) => void,
  ) {
    this.schema = runnerFrameSchema(limits);
  }

  feed(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.held += chunk.length;
    for (;;) {
      if (!this.header && !this.readHeader()) return;
      if (this.held < this.need) return;
      const payload = this.take(this.need);
      const frame = this.header!;
      this.header = undefined;
      // exec_result: stdout is the output segment, stderr the logs segment.
      const outputBytes = frame.t === "result" ? frame.outputBytes : frame.t === "exec_result" ? frame.stdoutBytes : 0;
      this.onFrame({ frame, output: payload.subarray(0, outputBytes), logs: payload.subarray(outputBytes) });
    }
  }

  private readHeader(): boolean {
    const all = this.gather();
    const nl = all.indexOf(10);
    if (nl < 0) {
      if (this.held > MAX_HEADER_BYTES) throw new ProtocolViolation(`a header line over ${MAX_HEADER_BYTES} bytes`);
      return false;
    }
    if (nl > MAX_HEADER_BYTES) throw new ProtocolViolation(`a header line over ${MAX_HEADER_BYTES} bytes`);
    const raw = this.take(nl + 1).subarray(0, nl);
    let json: unknown;
    try {
      json = JSON.parse(raw.toString("utf8"));
    } catch {
      throw new ProtocolViolation("a header line that is not JSON");
    }
    const f = plainResult(json, this.limits) ?? this.parsed(json);
    this.header = f;
    this.need = payloadBytesOf(f);
    return true;
  }

  private parsed(json: unknown): RunnerFrame {
    const parsed = this.schema.safeParse(json);
    if (!parsed.success) throw new ProtocolViolation(`a header that breaks the protocol (${parsed.error.issues[0]?.path.join(".") || "shape"})`);
    return parsed.data;
  }

  private gather(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.held)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private take(n: number): Buffer {
    const all = this.gather();
    const head = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.held = rest.length;
    return head;
  }
}

function payloadBytesOf(f: RunnerFrame): number {
  switch (f.t) {
    case "ready":
    case "exec_error":
    case "refused":
    case "retired":
      return 0;
    case "result":
      return f.outputBytes + f.logBytes;
    case "exec_result":
      return f.stdoutBytes + f.stderrBytes;
    default:
      return f.logBytes;
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
