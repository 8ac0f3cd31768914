// A TCP proxy between one agent and nats-server, so the runner can partition that agent from NATS while the
// agent process keeps running (its containers finish their calls, its timers fire): a network partition,
// which SIGSTOP is not. While partitioned, bytes in both directions are held back (a black hole, as a dropped
// route looks: no RST, no FIN); when healed they flow again, late.
import { createServer, connect, type Server, type Socket } from "node:net";
import { once } from "node:events";

export class PartitionProxy {
  private readonly server: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  private partitioned = false;

  private constructor(readonly listenPort: number, private readonly targetPort: number) {
    this.server = createServer((client) => this.accept(client));
  }

  static async start(listenPort: number, targetPort: number): Promise<PartitionProxy> {
    const p = new PartitionProxy(listenPort, targetPort);
    p.server.listen(listenPort, "127.0.0.1");
    await once(p.server, "listening");
    return p;
  }

  private accept(client: Socket): void {
    const upstream = connect(this.targetPort, "127.0.0.1");
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
    if (this.partitioned) this.hold(pair);
  }

  private hold([a, b]: [Socket, Socket]): void {
    a.unpipe(b);
    b.unpipe(a);
    a.pause();
    b.pause();
  }

  /** Holds back every byte between the agent and NATS, in both directions, until heal(). */
  partition(): void {
    this.partitioned = true;
    for (const pair of this.pairs) this.hold(pair);
  }

  heal(): void {
    this.partitioned = false;
    for (const [a, b] of this.pairs) {
      a.pipe(b);
      b.pipe(a);
      a.resume();
      b.resume();
    }
  }

  async close(): Promise<void> {
    for (const [a, b] of this.pairs) { a.destroy(); b.destroy(); }
    this.pairs.clear();
    await new Promise((r) => this.server.close(r));
  }
}
