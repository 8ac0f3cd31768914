// npm run bench:runner — what the trusted-runner boundary and the between-calls checks cost per warm call,
// measured on real containers with the agent's hardening, in the same run as their floor:
//   worker alone  the language worker speaking straight over the attached stdin/stdout (no runner): the floor
//   runner, no settle  weft-runner in between (uid boundary, pipes), checks between calls switched off
//   runner, checks, no freeze  the leftovers checks without stopping the worker between calls
//   runner  what production runs: boundary + SIGSTOP, then the leftovers checks; SIGCONT on the next call
// Variants alternate in rounds so the shared machine's noise falls on all alike. Prints a table, writes JSON.
import Dockerode from "dockerode";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Duplex } from "node:stream";
import { AttachDemuxer } from "../../agents/runner-protocol.js";
import { DockerDriver, type Isolation, type Runtime } from "../../agents/docker-driver.js";
import { DEFAULT_SECCOMP_PROFILE, loadSeccompOption } from "../../agents/seccomp.js";
import { baseImagesFromEnv, ensureRuntimeImages, RUNTIME_IMAGES } from "../../deploy/images.js";
import { createLogger } from "../../shared/logger.js";

const ROOT = resolve(import.meta.dirname, "../..");
const CALLS = Number(process.env.WEFT_BENCH_CALLS ?? 2000);
const ROUNDS = 4;
/** The newest runtime of each language. */
const BENCH_RUNTIMES = ["python3.13", "nodejs20"] as const satisfies readonly Runtime[];
type BenchRuntime = (typeof BENCH_RUNTIMES)[number];
const CODE: Record<BenchRuntime, string> = {
  "python3.13": `def handler(event, context):\n    return {"hello": event.get("name")}\n`,
  nodejs20: `exports.handler = async (event) => ({ hello: event.name })\n`,
};
const WORKER: Record<BenchRuntime, string> = { "python3.13": "python3 -u /opt/weft/worker.py", nodejs20: "node /opt/weft/worker.js" };
type Variant = "worker alone" | "runner, no settle" | "runner, checks, no freeze" | "runner";
const VARIANTS: Variant[] = ["worker alone", "runner, no settle", "runner, checks, no freeze", "runner"];

/** A frame client: header line, then the payload its lengths name (worker and runner frames alike). */
class Client {
  private buf = Buffer.alloc(0);
  private waiter: ((h: Record<string, unknown>) => void) | undefined;
  private frames: Array<Record<string, unknown>> = [];
  constructor(private readonly stream: Duplex) {
    const demux = new AttachDemuxer((c) => this.feed(c), () => {});
    stream.on("data", (c: Buffer) => demux.feed(c));
  }
  private feed(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      const nl = this.buf.indexOf(10);
      if (nl < 0) return;
      const h = JSON.parse(this.buf.subarray(0, nl).toString()) as Record<string, number>;
      const need = (h.outputBytes ?? 0) + (h.logBytes ?? 0);
      if (this.buf.length < nl + 1 + need) return;
      this.buf = this.buf.subarray(nl + 1 + need);
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(h);
      } else this.frames.push(h);
    }
  }
  next(): Promise<Record<string, unknown>> {
    const f = this.frames.shift();
    if (f) return Promise.resolve(f);
    return new Promise((r) => (this.waiter = r));
  }
  send(header: object, payload: Buffer): void {
    this.stream.write(Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), payload]));
  }
}

async function start(docker: Dockerode, driver: DockerDriver, runtime: BenchRuntime, isolation: Isolation, variant: Variant) {
  const opts = driver.createOptions({ runtime, isolation, memoryMb: 256, cpus: 1 }, `weft-bench-boundary-${randomBytes(4).toString("hex")}`);
  if (variant === "worker alone") {
    opts.User = "65534:65534";
    opts.HostConfig!.CapAdd = [];
    opts.Cmd = ["/bin/sh", "-c", `exec ${WORKER[runtime]} 3<&0 4>&1`];
  } else if (variant === "runner, no settle") {
    opts.Env = ["WEFT_RUNNER_SETTLE=off"];
  } else if (variant === "runner, checks, no freeze") {
    opts.Env = ["WEFT_RUNNER_SETTLE=no-freeze"];
  }
  const c = await docker.createContainer(opts);
  const stream = (await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
  await c.start();
  const client = new Client(stream);
  const ready = await client.next();
  if (ready.t !== "up" && ready.t !== "ready") throw new Error(`unexpected first frame ${JSON.stringify(ready)}`);
  const code = Buffer.from(CODE[runtime]);
  client.send({ t: "init", codeBytes: code.length, env: {}, concurrency: 1, logLimit: 262144, outputLimit: 6 << 20 }, code);
  const init = await client.next();
  if (init.t !== "init_ok") throw new Error(`init failed: ${JSON.stringify(init)}`);
  return { client, stop: async () => { stream.destroy(); await c.remove({ force: true }); } };
}

async function measure(client: Client, calls: number): Promise<number[]> {
  const event = Buffer.from('{"name":"x"}');
  const ms: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    client.send({ t: "run", id: String(i), ctx: { invocationId: `b${i}` }, eventBytes: event.length }, event);
    const r = await client.next();
    ms.push(performance.now() - t);
    if (r.ok !== true) throw new Error(`call failed: ${JSON.stringify(r)}`);
  }
  return ms;
}

const pct = (s: number[], q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;

async function main(): Promise<void> {
  const docker = new Dockerode();
  const log = createLogger("bench", "warn");
  const images = { ...RUNTIME_IMAGES };
  for (const built of await ensureRuntimeImages(docker, { bases: baseImagesFromEnv(process.env), images, log, only: BENCH_RUNTIMES })) images[built.runtime] = built.pinned;
  const driver = new DockerDriver(docker, { agentId: "bench-boundary", images, pidsLimit: 128, nofileLimit: 1024, tmpfsMb: 64, seccomp: loadSeccompOption(DEFAULT_SECCOMP_PROFILE) });
  const rows: Array<{ runtime: Runtime; isolation: Isolation; variant: Variant; n: number; p50: number; p99: number }> = [];
  for (const runtime of BENCH_RUNTIMES) {
    for (const isolation of ["runc", "gvisor"] as const) {
      const samples: Record<Variant, number[]> = { "worker alone": [], "runner, no settle": [], "runner, checks, no freeze": [], runner: [] };
      const started = await Promise.all(VARIANTS.map((v) => start(docker, driver, runtime, isolation, v)));
      try {
        for (const s of started) await measure(s.client, 200); // warm-up
        for (let round = 0; round < ROUNDS; round++) {
          for (const [i, v] of VARIANTS.entries()) samples[v].push(...(await measure(started[i]!.client, CALLS / ROUNDS)));
        }
      } finally {
        await Promise.all(started.map((s) => s.stop()));
      }
      for (const v of VARIANTS) {
        const s = samples[v].sort((a, b) => a - b);
        rows.push({ runtime, isolation, variant: v, n: s.length, p50: +pct(s, 0.5).toFixed(3), p99: +pct(s, 0.99).toFixed(3) });
      }
    }
  }
  console.log("| runtime | isolation | variant | p50 ms | p99 ms | p50 − worker alone |");
  console.log("|---|---|---|---|---|---|");
  for (const r of rows) {
    const floor = rows.find((x) => x.runtime === r.runtime && x.isolation === r.isolation && x.variant === "worker alone")!;
    console.log(`| ${r.runtime} | ${r.isolation} | ${r.variant} | ${r.p50} | ${r.p99} | ${(r.p50 - floor.p50).toFixed(3)} |`);
  }
  const dir = join(ROOT, "bench-results");
  await mkdir(dir, { recursive: true });
  const file = join(dir, `runner-boundary-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  await writeFile(file, JSON.stringify({ calls: CALLS, rows }, null, 2));
  console.log(`report: ${file}`);
}

await main();
