// A TCP proxy between a client (a gateway) and nats-server that can hold back every server→client byte (so PubAcks,
// replies and results arrive late, or not at all while held) and reports each message the client publishes, with
// its headers, as an event to await: a late PubAck made with real parts, no stand-in for the bus.
import { createServer, connect, type Server, type Socket } from "node:net";
import { EventEmitter, once } from "node:events";

export interface SeenPublish {
  subject: string;
  reply: string | undefined;
  /** Header names lower-cased. */
  headers: Record<string, string>;
}

export class HoldProxy extends EventEmitter {
  private readonly server: Server;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; held: Buffer[] }>();
  private holding = false;
  readonly published: SeenPublish[] = [];

  private constructor(private readonly targetPort: number) {
    super();
    this.server = createServer((client) => this.accept(client));
  }

  static async start(targetPort: number): Promise<HoldProxy> {
    const p = new HoldProxy(targetPort);
    p.server.listen(0, "127.0.0.1");
    await once(p.server, "listening");
    return p;
  }

  get url(): string {
    const addr = this.server.address();
    if (!addr || typeof addr === "string") throw new Error("proxy not listening");
    return `nats://127.0.0.1:${addr.port}`;
  }

  /** Resolves with the publishes to `subject` once there are `count` of them. */
  async publishesTo(subject: string, count: number): Promise<SeenPublish[]> {
    const matching = () => this.published.filter((p) => p.subject === subject);
    while (matching().length < count) await once(this, "publish");
    return matching();
  }

  /** From now on server→client bytes are kept back (in order), until release(). */
  hold(): void {
    this.holding = true;
  }

  /** Sends what was kept back, then lets bytes flow again. */
  release(): void {
    this.holding = false;
    for (const pair of this.pairs) {
      for (const chunk of pair.held.splice(0)) pair.client.write(chunk);
    }
  }

  async close(): Promise<void> {
    for (const { client, upstream } of this.pairs) { client.destroy(); upstream.destroy(); }
    this.pairs.clear();
    await new Promise((r) => this.server.close(r));
  }

  private accept(client: Socket): void {
    const upstream = connect(this.targetPort, "127.0.0.1");
    const pair = { client, upstream, held: [] as Buffer[] };
    this.pairs.add(pair);
    const end = () => { client.destroy(); upstream.destroy(); this.pairs.delete(pair); };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    let pending = "";
    client.on("data", (chunk: Buffer) => {
      upstream.write(chunk);
      pending = this.scan(pending + chunk.toString("latin1"));
    });
    upstream.on("data", (chunk: Buffer) => {
      if (this.holding) pair.held.push(chunk);
      else client.write(chunk);
    });
  }

  /** Reads whole PUB / HPUB messages off the client's stream (latin1 keeps byte counts); returns what is left. */
  private scan(text: string): string {
    for (;;) {
      const eol = text.indexOf("\r\n");
      if (eol < 0) return text;
      const [op, ...args] = text.slice(0, eol).split(" ");
      const verb = op?.toUpperCase();
      if (verb !== "PUB" && verb !== "HPUB") {
        text = text.slice(eol + 2);
        continue;
      }
      const total = Number(args.at(-1));
      const headerBytes = verb === "HPUB" ? Number(args.at(-2)) : 0;
      const subjectArgs = args.slice(0, verb === "HPUB" ? -2 : -1);
      if (text.length < eol + 2 + total + 2) return text;
      const headers: Record<string, string> = {};
      for (const line of text.slice(eol + 2, eol + 2 + headerBytes).split("\r\n").slice(1)) {
        const colon = line.indexOf(":");
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const seen: SeenPublish = { subject: subjectArgs[0]!, reply: subjectArgs[1], headers };
      this.published.push(seen);
      this.emit("publish", seen);
      text = text.slice(eol + 2 + total + 2);
    }
  }
}
