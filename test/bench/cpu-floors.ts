// The CPU floors of one warm call: what the parts Weft is built from cost per call with nothing of Weft around them,
// each at the bench's concurrency, in this process plus the server it talks to (CPU from /proc and cpuUsage):
//   - a core NATS request-reply (requester and responder here; nats-server);
//   - a JetStream work-queue job: publish with a reply subject, a pull consumer takes it, replies, acks (the
//     sync path's bus work: stored job, PubAck, delivery, ack, reply; nats-server's file store);
//   - records: final-record-shaped documents inserted in batches, as the controller writes them (FerretDB);
//   - the runner channel: run frames to a warm python3 container over its socket (the container's processes).
// Their sum is what Weft's architecture costs per call before any of Weft's own code runs: the floor against which
// the CPU-per-call target is judged.
import { randomBytes } from "node:crypto";
import { connect, createInbox, headers } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { MongoClient } from "mongodb";
import { cpuMs, pidListeningOn } from "./proc-stat.js";
import { storedDoc, type StoredDoc } from "../../controller/invocation-records.js";

export interface CpuFloor {
  floor: string;
  /** CPU per call in this process (client and its counterpart, both here). */
  clientMs: number;
  /** CPU per call in the server it talks to (nats-server, FerretDB, the container's processes). */
  serverMs: number;
  totalMs: number;
  callsPerSec: number;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Runs `calls` calls, `concurrency` at a time, and charges this process and `serverPids` their CPU per call. */
export async function chargeCpu(floor: string, serverPids: () => number[], calls: number, concurrency: number, call: (i: number) => Promise<void>): Promise<CpuFloor> {
  for (let i = 0; i < Math.min(200, calls); i++) await call(-1 - i); // warm-up
  const pids = serverPids();
  const server0 = pids.reduce((s, p) => s + cpuMs(p), 0);
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < calls) await call(next++);
  }));
  const elapsed = performance.now() - t0;
  const self = process.cpuUsage(self0);
  const server = pids.reduce((s, p) => s + cpuMs(p), 0) - server0;
  const clientMs = (self.user + self.system) / 1000 / calls;
  const serverMs = server / calls;
  return { floor, clientMs: round3(clientMs), serverMs: round3(serverMs), totalMs: round3(clientMs + serverMs), callsPerSec: Math.round((calls / elapsed) * 1000) };
}

export async function natsRequestCpu(natsUrl: string, natsPort: number, calls: number, concurrency: number): Promise<CpuFloor> {
  const nc = await connect({ servers: natsUrl });
  try {
    const subject = `floor.req.${randomBytes(3).toString("hex")}`;
    nc.subscribe(subject, { callback: (_e, m) => void m.respond(m.data) });
    await nc.flush();
    const payload = Buffer.from('{"name":"bench"}');
    return await chargeCpu("core NATS request-reply", () => serverPid(natsPort), calls, concurrency, async () => {
      await nc.request(subject, payload, { timeout: 10_000 });
    });
  } finally {
    await nc.close();
  }
}

/**
 * The sync path's bus work with nothing of Weft: a work-queue stream on file storage, a job published with its
 * reply subject in a header (the PubAck awaited, as the gateway does in the background), a pull consumer that
 * takes it, answers the reply subject and acks it.
 */
export async function jetstreamJobCpu(natsUrl: string, natsPort: number, calls: number, concurrency: number): Promise<CpuFloor> {
  const nc = await connect({ servers: natsUrl });
  const tag = randomBytes(3).toString("hex");
  const stream = `FLOOR_JOBS_${tag}`;
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.add({ name: stream, subjects: [`floor.jobs.${tag}.>`], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
    await jsm.consumers.add(stream, { durable_name: "agents", ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: 30_000_000_000, max_ack_pending: 10_000 });
    const js = jetstream(nc);
    const consumer = await js.consumers.get(stream, "agents");
    const messages = await consumer.consume({ max_messages: concurrency });
    void (async () => {
      for await (const m of messages) {
        const replyTo = m.headers?.get("reply-to");
        if (replyTo) nc.publish(replyTo, m.data);
        m.ack();
      }
    })();
    const inbox = createInbox();
    const waiting = new Map<string, () => void>();
    nc.subscribe(`${inbox}.>`, { callback: (_e, m) => waiting.get(m.subject)?.() });
    const payload = Buffer.from('{"name":"bench"}');
    let n = 0;
    try {
      return await chargeCpu("JetStream work-queue job (publish, PubAck, pull, reply, ack)", () => serverPid(natsPort), calls, concurrency, async () => {
        const reply = `${inbox}.${n++}`;
        const h = headers();
        h.set("reply-to", reply);
        const answered = new Promise<void>((resolve) => waiting.set(reply, resolve));
        await Promise.all([js.publish(`floor.jobs.${tag}.f`, payload, { headers: h }), answered]);
        waiting.delete(reply);
      });
    } finally {
      messages.stop();
    }
  } finally {
    await jsm.streams.delete(stream).catch(() => undefined);
    await nc.close();
  }
}

/** Final-record-shaped documents inserted `batch` at a time, unordered, as the controller's ingest does; per record. */
export async function recordInsertCpu(mongoUrl: string, mongoPort: number, records: number, batch: number): Promise<CpuFloor> {
  const client = await MongoClient.connect(mongoUrl);
  const db = client.db(`floor_${randomBytes(3).toString("hex")}`);
  const coll = db.collection<StoredDoc>("invocations");
  // Stored as the controller stores a final record (storedDoc: a few fields, the rest as one JSON text).
  const doc = (id: string) => storedDoc({
    _id: id, functionName: "floor", incarnation: "a".repeat(16), enqueuedAt: new Date(), version: 1, status: "ok",
    outputJson: '{"hello":"bench"}', eventJson: '{"name":"bench"}', durationMs: 0.4, agent: "host-1", attempt: 1,
    startedAt: new Date(), finishedAt: new Date(), traceId: "0af7651916cd43dd8448eb211c80319c",
  });
  try {
    // One "call" is one batch; the figure is divided by the batch size after.
    const f = await chargeCpu("records: final documents inserted in batches", () => serverPid(mongoPort), Math.ceil(records / batch), 1, async () => {
      await coll.insertMany(Array.from({ length: batch }, () => doc(randomBytes(12).toString("hex"))), { ordered: false });
    });
    return { ...f, floor: `${f.floor} of ${batch}`, clientMs: round3(f.clientMs / batch), serverMs: round3(f.serverMs / batch), totalMs: round3(f.totalMs / batch), callsPerSec: f.callsPerSec * batch };
  } finally {
    await db.dropDatabase().catch(() => undefined);
    await client.close();
  }
}

function serverPid(port: number): number[] {
  const pid = pidListeningOn(port);
  return pid === undefined ? [] : [pid];
}

export function printCpuFloors(floors: CpuFloor[]): void {
  console.log("\nCPU floors per call (the parts alone, at the bench's concurrency)");
  const rows = floors.map((f) => [f.floor, `${f.clientMs.toFixed(3)} ms`, `${f.serverMs.toFixed(3)} ms`, `${f.totalMs.toFixed(3)} ms`, `${f.callsPerSec}/s`]);
  const head = ["floor", "client", "server", "total", "rate"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  const sum = floors.reduce((s, f) => s + f.totalMs, 0);
  console.log(`sum of the floors: ${sum.toFixed(3)} ms per call`);
}
