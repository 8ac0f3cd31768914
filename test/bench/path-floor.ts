// The path floor: Weft's topology with none of Weft in it. A Node HTTP server stands in for the gateway and hands
// each request to a Node process standing in for the agent with a core NATS request; that process runs it in a
// warm runtime container over HTTP or gRPC (the runner as shipped, with Weft's hardening, over the same Unix-socket channel) and
// answers (or, for a path naming "bus-only", answers at once: the processes and the bus without the container). No JetStream (nothing is stored), no records, no validation, no tracing, no admission control: what
// the processes, the bus and the container cost by themselves, with the same hops as a warm Weft call. Its
// latency and CPU per call are the floor of this design on this machine, measured in the same run as Weft.
//
//   node --import tsx test/bench/path-floor.ts gateway   (env FLOOR_NATS_URL, FLOOR_SUBJECT, FLOOR_MAX_INFLIGHT (0: no
//                                                        bound); prints "port HTTP GRPC")
//   node --import tsx test/bench/path-floor.ts agent     (env FLOOR_NATS_URL, FLOOR_SUBJECT, FLOOR_CONTAINERS,
//                                                        FLOOR_RUNTIME (python3.13, or nodejs20), FLOOR_CONCURRENCY
//                                                        (calls each container runs at once, 1 by default);
//                                                        prints "ready PID[,PID...]", the containers' shim pids)
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import Dockerode from "dockerode";
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import { connect, type Msg } from "@nats-io/transport-node";
import { BENCH_RUNTIMES, benchDriver, start as startRunnerContainer, type BenchRuntime, type Started } from "./runner-client.js";
import { loadWeftProto, toProtoValue } from "./grpc-client.js";
import { batchScheduled, scheduleAsBatch } from "../../shared/sched-batch.js";

/**
 * The subject a call goes to: a path naming "bus-only" skips the container (the Node processes and the bus alone);
 * a function named NAME-K (the bench's many functions, /v1/functions/many-xxxx-K/invoke) goes to warm container K,
 * as each of many functions has its own; anything else to the next free container.
 */
function relaySubject(subject: string, url: string): string {
  if (url.includes("bus-only")) return `${subject}.bus-only`;
  const pinned = /-(\d+)\/invoke/.exec(url);
  return pinned ? `${subject}.pin.${pinned[1]}` : subject;
}

/**
 * The stand-in gateway: HTTP in, one core NATS request per call, the answer's bytes out. With `maxInflight` (the
 * overload floor) a call over that many in flight is answered 429 at once, the least shedding there is.
 */
async function relayGateway(natsUrl: string, subject: string, maxInflight: number): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  let inflight = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (maxInflight > 0 && inflight >= maxInflight) {
        res.writeHead(429, { "content-type": "application/json", "retry-after": "1", "content-length": 2 });
        res.end("{}");
        return;
      }
      inflight++;
      nc.request(relaySubject(subject, req.url ?? ""), Buffer.concat(chunks), { timeout: 30_000 }).then(
        (m) => {
          inflight--;
          res.writeHead(200, { "content-type": "application/json", "content-length": m.data.byteLength });
          res.end(m.data);
        },
        () => {
          inflight--;
          res.writeHead(503);
          res.end();
        },
      );
    });
  });
  server.keepAliveTimeout = 65_000;
  // The same over gRPC: weft.v1.InvocationService/Invoke from the same .proto, so the same client can call it.
  const grpc = new Server();
  grpc.addService(loadWeftProto().InvocationService.service, {
    Invoke: (call: ServerUnaryCall<{ name: string; event: unknown }, unknown>, done: sendUnaryData<unknown>) => {
      const subject2 = call.request.name.includes("bus-only") ? `${subject}.bus-only` : subject;
      nc.request(subject2, JSON.stringify(call.request.event ?? {}), { timeout: 30_000 }).then(
        (m) => {
          const answer = m.json<{ status: string }>();
          done(null, { invocationId: "floor", functionName: call.request.name, status: answer.status, output: toProtoValue(answer) });
        },
        (err: Error) => done(err),
      );
    },
  });
  const grpcPort = await new Promise<number>((ok, fail) => grpc.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))));
  server.listen(0, "127.0.0.1", () => console.log(`port ${(server.address() as AddressInfo).port} ${grpcPort}`));
}

/**
 * The stand-in agent: each request goes to the next free slot of a warm container: `concurrency` slots each, one
 * by default as Weft runs a function by default.
 */
async function relayAgent(natsUrl: string, subject: string, count: number, runtime: BenchRuntime, concurrency: number): Promise<void> {
  const docker = new Dockerode();
  const { driver, channelDir } = await benchDriver(docker, [runtime], "bench-path");
  const containers: Started[] = [];
  for (let i = 0; i < count; i++) containers.push(await startRunnerContainer(docker, driver, channelDir, runtime, "runc", "runner, socket", concurrency));
  const free = Array.from({ length: concurrency }, () => containers).flat();
  const waiting: Array<(c: Started) => void> = [];
  const acquire = () => new Promise<Started>((r) => { const c = free.pop(); if (c) r(c); else waiting.push(r); });
  const release = (c: Started) => { const w = waiting.shift(); if (w) w(c); else free.push(c); };
  // Pinned calls (one function per container): each container's calls wait for it in turn.
  const pinnedTail = containers.map(() => Promise.resolve());
  const pinned = (k: number) => {
    const i = k % containers.length;
    const c = containers[i]!;
    const turn = pinnedTail[i]!.then(() => c);
    let done!: () => void;
    pinnedTail[i] = new Promise<void>((r) => (done = r));
    return { turn, done };
  };
  let seq = 0;
  const run = async (c: Started, m: Msg) => {
    const id = String(++seq);
    const answered = c.client.answer(id);
    c.client.send({ t: "run", id, ctx: { invocationId: id }, eventBytes: m.data.length }, Buffer.from(m.data));
    const answer = await answered;
    return () => m.respond(JSON.stringify({ status: answer.t === "result" && answer.ok === true ? "ok" : "error", result: answer }));
  };
  const nc = await connect({ servers: natsUrl });
  nc.subscribe(subject, {
    callback: (_err, m) => {
      void acquire().then(async (c) => {
        const respond = await run(c, m);
        release(c);
        // Weft's answer names the status; the bench counts a call only when it is "ok".
        respond();
      });
    },
  });
  nc.subscribe(`${subject}.pin.*`, {
    callback: (_err, m) => {
      const { turn, done } = pinned(Number(m.subject.slice(m.subject.lastIndexOf(".") + 1)));
      void turn.then(async (c) => {
        const respond = await run(c, m);
        done();
        respond();
      });
    },
  });
  nc.subscribe(`${subject}.bus-only`, { callback: (_err, m) => void m.respond('{"ok":true}') });
  await nc.flush();
  const stop = async () => {
    await Promise.all(containers.map((c) => c.stop().catch(() => undefined)));
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  console.log(`ready ${containers.map((c) => c.shimPid ?? 0).join(",")}`);
}

export interface PathFloor {
  port: number;
  grpcPort: number;
  gatewayPid: number;
  agentPid: number;
  shimPids: number[];
  stop(): Promise<void>;
}

/** Starts both stand-ins as processes of their own, `containers` warm containers of `runtime` behind the agent. */
export async function startPathFloor(natsUrl: string, containers: number, runtime: BenchRuntime = "python3.13", maxInflight = 0, concurrency = 1): Promise<PathFloor> {
  const env = {
    ...process.env,
    FLOOR_MAX_INFLIGHT: String(maxInflight),
    FLOOR_NATS_URL: natsUrl,
    FLOOR_SUBJECT: `bench.path.${randomBytes(3).toString("hex")}`,
    FLOOR_CONTAINERS: String(containers),
    FLOOR_RUNTIME: runtime,
    FLOOR_CONCURRENCY: String(concurrency),
  };
  const agent = spawn(process.execPath, ["--import", "tsx", import.meta.filename, "agent"], { env, stdio: ["ignore", "pipe", "inherit"] });
  const ready = await firstLine(agent, "ready ");
  const gateway = spawn(process.execPath, ["--import", "tsx", import.meta.filename, "gateway"], { env, stdio: ["ignore", "pipe", "inherit"] });
  const [port, grpcPort] = (await firstLine(gateway, "port ")).split(" ").map(Number) as [number, number];
  const stop = async (p: ChildProcess) => {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGTERM");
    await exited;
  };
  return {
    port,
    grpcPort,
    gatewayPid: gateway.pid!,
    agentPid: agent.pid!,
    shimPids: ready.split(",").map(Number).filter((p) => p > 0),
    stop: async () => {
      await stop(gateway);
      await stop(agent);
    },
  };
}

function firstLine(child: ChildProcess, prefix: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      if (line.startsWith(prefix)) resolve(line.slice(prefix.length).trim());
    });
    child.once("exit", (code) => reject(new Error(`path floor ${prefix.trim()} process exited (code ${code}) before it was ready`)));
  });
}

const role = process.argv[2];
// Scheduled as Weft's own processes are (WEFT_SCHED_BATCH, shared/sched-batch.ts), so the floor stays a floor.
if ((role === "gateway" || role === "agent") && batchScheduled()) scheduleAsBatch(process.pid);
if (role === "gateway") await relayGateway(process.env.FLOOR_NATS_URL!, process.env.FLOOR_SUBJECT!, Number(process.env.FLOOR_MAX_INFLIGHT ?? 0));
if (role === "agent") await relayAgent(process.env.FLOOR_NATS_URL!, process.env.FLOOR_SUBJECT!, Number(process.env.FLOOR_CONTAINERS ?? 2), floorRuntime(process.env.FLOOR_RUNTIME), Number(process.env.FLOOR_CONCURRENCY ?? 1));

function floorRuntime(name = "python3.13"): BenchRuntime {
  const runtime = BENCH_RUNTIMES.find((r) => r === name);
  if (!runtime) throw new Error(`FLOOR_RUNTIME ${name} is not one of ${BENCH_RUNTIMES.join(", ")}`);
  return runtime;
}
