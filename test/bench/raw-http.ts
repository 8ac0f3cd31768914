// The bench's HTTP load generator: keep-alive connections that each carry one request at a time, written as
// prebuilt bytes and read with a parser that knows only what a Weft answer is (status line, headers,
// content-length body). Node's http client costs the bench about as much CPU per call as the gateway spends
// answering it; on a 2-core machine that is CPU taken from the fabric being measured (wrk, which the peers'
// figures come from, is as thin as this).
import net from "node:net";

export interface RawResponse {
  status: number;
  body: Buffer;
  /** The Retry-After header, when there is one. */
  retryAfter?: string;
  /** How long the request waited in this client for a free connection before it was written (ms). */
  queuedMs: number;
}

interface Waiter {
  resolve: (r: RawResponse) => void;
  reject: (e: Error) => void;
  /** performance.now() when the request was made, then how long it waited for a connection. */
  at: number;
  queuedMs: number;
}

const CRLFCRLF = Buffer.from("\r\n\r\n");

class Connection {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: Waiter | undefined;
  private head: { status: number; length: number; retryAfter?: string; bodyAt: number } | undefined;
  readonly socket: net.Socket;
  closed = false;

  constructor(port: number, host: string, private readonly onIdle: (c: Connection) => void) {
    this.socket = net.connect({ port, host, noDelay: true });
    this.socket.on("data", (chunk: Buffer) => this.feed(chunk));
    const fail = (err?: Error) => {
      this.closed = true;
      const w = this.waiter;
      this.waiter = undefined;
      w?.reject(err ?? Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }));
    };
    this.socket.on("error", fail);
    this.socket.on("close", () => fail());
  }

  send(request: Buffer, waiter: Waiter): void {
    waiter.queuedMs = performance.now() - waiter.at;
    this.waiter = waiter;
    this.socket.write(request);
  }

  private feed(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (!this.head) {
        const end = this.buf.indexOf(CRLFCRLF);
        if (end < 0) return;
        const text = this.buf.subarray(0, end).toString("latin1");
        const status = Number(text.slice(9, 12));
        const length = /\r\ncontent-length: *(\d+)/i.exec(text)?.[1];
        if (length === undefined) {
          this.socket.destroy(new Error(`an answer without content-length: ${text.slice(0, 200)}`));
          return;
        }
        const retryAfter = /\r\nretry-after: *([^\r]+)/i.exec(text)?.[1];
        this.head = { status, length: Number(length), retryAfter, bodyAt: end + 4 };
      }
      const { status, length, retryAfter, bodyAt } = this.head;
      if (this.buf.length < bodyAt + length) return;
      const body = this.buf.subarray(bodyAt, bodyAt + length);
      this.buf = this.buf.subarray(bodyAt + length);
      this.head = undefined;
      const w = this.waiter;
      this.waiter = undefined;
      w?.resolve({ status, body, retryAfter, queuedMs: w.queuedMs });
      this.onIdle(this);
    }
  }
}

/** Up to `maxConnections` keep-alive connections; a request waits for a free one when all are busy. */
export class RawHttpClient {
  private readonly idle: Connection[] = [];
  private readonly queue: Array<{ request: Buffer; waiter: Waiter }> = [];
  private open = 0;
  /** The most connections open at once. */
  peakConnections = 0;

  constructor(
    private readonly port: number,
    private readonly maxConnections: number,
    private readonly host = "127.0.0.1",
  ) {}

  post(path: string, body: string): Promise<RawResponse> {
    const payload = Buffer.from(body);
    const request = Buffer.concat([
      Buffer.from(`POST ${path} HTTP/1.1\r\nhost: ${this.host}:${this.port}\r\ncontent-type: application/json\r\ncontent-length: ${payload.length}\r\n\r\n`, "latin1"),
      payload,
    ]);
    return new Promise((resolve, reject) => this.dispatch(request, { resolve, reject, at: performance.now(), queuedMs: 0 }));
  }

  close(): void {
    for (const c of this.idle) c.socket.destroy();
    this.idle.length = 0;
  }

  private dispatch(request: Buffer, waiter: Waiter): void {
    // Requests already waiting go first: a new one never overtakes them.
    if (this.queue.length > 0) {
      this.queue.push({ request, waiter });
      return;
    }
    const c = this.connection();
    if (c) c.send(request, waiter);
    else this.queue.push({ request, waiter });
  }

  /** An idle connection, or a new one while under the cap; undefined when all are busy. */
  private connection(): Connection | undefined {
    let c = this.idle.pop();
    while (c?.closed) c = this.idle.pop(); // its close already took it off the count
    if (c || this.open >= this.maxConnections) return c;
    this.open++;
    this.peakConnections = Math.max(this.peakConnections, this.open);
    const opened = new Connection(this.port, this.host, (free) => this.release(free));
    opened.socket.once("close", () => {
      this.open = Math.max(0, this.open - 1);
      const i = this.idle.indexOf(opened);
      if (i >= 0) this.idle.splice(i, 1);
      // A closed connection frees room under the cap: the oldest waiting request takes it.
      const next = this.queue.length > 0 ? this.connection() : undefined;
      if (next) {
        const q = this.queue.shift()!;
        next.send(q.request, q.waiter);
      }
    });
    return opened;
  }

  private release(c: Connection): void {
    const next = this.queue.shift();
    if (next) c.send(next.request, next.waiter);
    else this.idle.push(c);
  }
}
