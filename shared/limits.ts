// Documented limits (README "Limits"). One place, so HTTP, gRPC, NATS and the agent agree.
const KiB = 1024;
const MiB = 1024 * KiB;

export const LIMITS = {
  /** An invocation event (the request body) and a function's output. Lambda's synchronous limit. */
  payloadBytes: 6 * MiB,
  /** A function's source code, in UTF-8 bytes. */
  codeBytes: 4 * MiB,
  /** A bundle (PUT `files` or an archive body): its files' bytes once decoded or unpacked, and how many. */
  bundleBytes: 4 * MiB,
  bundleFiles: 1000,
  /** A bundle sent as a zip or tar.gz body, compressed. */
  archiveBytes: 4 * MiB,
  /** A bundle file's path, in bytes. */
  bundlePathBytes: 512,
  /** A PUT body: the code plus the other fields, JSON-escaped. */
  functionBodyBytes: 10 * MiB,
  /**
   * A request body over its limit is still read, and thrown away, up to this many bytes in all, so a client that
   * sends the whole body before it reads the answer gets its 413; past this the connection is closed mid-body.
   */
  overLimitDrainBytes: 16 * MiB,
  /** Logs kept per invocation (stdout and stderr together); the rest is cut with a marker. */
  logBytes: 256 * KiB,
  /** Event and output are kept in the invocation record up to this size, then cut and flagged. */
  recordPayloadBytes: 256 * KiB,
  /** Events and outputs may nest arrays and objects this deep (`[[1]]` is 2); deeper events are refused (400) at
   * every front door, deeper outputs end OUTPUT_TOO_DEEP. Both runtimes parse and serialise this depth. */
  jsonDepth: 1000,
  /** NATS max_payload the servers we start use; headers and envelope ride on top of the payload. */
  natsMaxPayloadBytes: 8 * MiB,
  /** A function definition in the KV bucket: the payload limit less room for the message's headers. */
  definitionBytes: 8 * MiB - 64 * KiB,
  timeoutMs: { min: 100, default: 30_000, max: 900_000 },
  memoryMb: { min: 64, default: 256, max: 8192 },
  cpus: { min: 0.05, max: 64 },
  concurrency: { min: 1, default: 1, max: 1000 },
  minWarm: { min: 0, default: 0, max: 100 },
  /** Variables per function, and the UTF-8 bytes of each value. */
  envVars: { max: 100, valueBytes: 4 * KiB },
  listLimit: { default: 20, max: 1000 },
  /** Retries of a failed async invocation (Lambda's range and default). */
  asyncRetries: { min: 0, default: 2, max: 2 },
  /** An async event older than this is not started (dead-lettered instead); the jobs stream keeps jobs 6 h. */
  eventAgeMs: { min: 1000, default: 6 * 3600_000, max: 6 * 3600_000 },
  /** Functions invoked one from another's destination: a deeper chain is refused and dead-lettered. */
  chainDepth: 8,
  /**
   * A trigger's message as the handler sees it (context.subject, context.headers): at most this many header names,
   * and this many bytes for the subject and headers as JSON. A message past either is refused (counted failed), as
   * the run frame's header line (64 KiB) carries them.
   */
  triggerMessage: { headers: 64, bytes: 16 * KiB, subjectBytes: 1024 },
} as const;

/** Cuts a string to at most `maxBytes` UTF-8 bytes; says whether it cut. */
export function cutUtf8(text: string, maxBytes: number): { text: string; truncated: boolean } {
  if (text.length <= maxBytes / 4 || Buffer.byteLength(text) <= maxBytes) return { text, truncated: false };
  const buf = Buffer.from(text).subarray(0, maxBytes);
  // Drop a trailing partial multi-byte sequence rather than emit U+FFFD.
  return { text: buf.toString("utf8").replace(/\uFFFD$/, ""), truncated: true };
}
