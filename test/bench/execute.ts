// npm run bench:execute: latency of ad-hoc execution (POST /v1/execute, a trivial script) on runc and gVisor, beside
// the function path (a warm invoke of a trivial function) measured in the same run. Calls are paced so the pool's
// background refill keeps up (a call that found no pre-started sandbox is counted apart as a cold start); each execute
// call is followed by a function call, so the two are measured under the same load.
import { startFabric, type Fabric } from "../harness/fabric.js";

const SAMPLES = Number(process.env.WEFT_BENCH_SAMPLES ?? 30);
const PACE_MS: Record<string, number> = { runc: 400, gvisor: 1200 };
const SCRIPTS = { python3: "print('hi')", nodejs: "console.log('hi')" } as const;

const round = (x: number) => Math.round(x * 10) / 10;
function summary(samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => round(s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN);
  return `n=${s.length} p50=${at(0.5)} ms p90=${at(0.9)} ms min=${round(s[0] ?? NaN)} ms max=${round(s[s.length - 1] ?? NaN)} ms`;
}

async function post(url: string, body: unknown): Promise<{ ms: number; json: any }> {
  const t0 = performance.now();
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const json = await res.json();
  return { ms: performance.now() - t0, json };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;

/** Deploys the trivial function the execute calls are set beside, and waits until a call of it succeeds. */
async function deployFunction(f: Fabric, runtime: keyof typeof SCRIPTS, isolation: string): Promise<string> {
  const name = `bench-fn-${runtime}-${isolation}`;
  const code = runtime === "python3" ? "def handler(e, c):\n    return 'hi'\n" : "exports.handler = async () => 'hi'";
  const put = await fetch(`${f.httpUrl}/v1/functions/${name}`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ runtime, isolation, code }) });
  if (put.status >= 300) throw new Error(`deploy failed: ${await put.text()}`);
  for (let i = 0; ; i++) {
    const r = await post(`${f.httpUrl}/v1/functions/${name}/invoke`, {});
    if (r.json.status === "ok") return name;
    if (i >= 3) throw new Error(`invoke failed: ${JSON.stringify(r.json)}`);
  }
}

/**
 * Each execute call is followed by a warm invoke of the trivial function, so both see the same load: on a shared
 * machine the load moves between runs (and within one) far more than either path does, and their ratio moves less.
 */
async function bench(f: Fabric, runtime: keyof typeof SCRIPTS, isolation: string): Promise<void> {
  const name = await deployFunction(f, runtime, isolation);
  const warm: number[] = [];
  const agentSide: number[] = [];
  const fn: number[] = [];
  let cold = 0;
  for (let i = 0; i < SAMPLES + 2; i++) {
    const r = await post(`${f.httpUrl}/v1/execute`, { runtime, isolation, code: SCRIPTS[runtime] });
    if (r.json.status !== "ok") throw new Error(`execute failed: ${JSON.stringify(r.json)}`);
    const inv = await post(`${f.httpUrl}/v1/functions/${name}/invoke`, {});
    if (inv.json.status !== "ok") throw new Error(`invoke failed: ${JSON.stringify(inv.json)}`);
    if (i >= 2) {
      fn.push(inv.ms);
      if (r.json.coldStart) cold++;
      else {
        warm.push(r.ms);
        agentSide.push(r.json.durationMs);
      }
    }
    await pause(PACE_MS[isolation]!);
  }
  console.log(`execute ${runtime}/${isolation}: end to end ${summary(warm)}; in the sandbox ${summary(agentSide)}; cold ${cold}/${SAMPLES}`);
  console.log(`function ${runtime}/${isolation} (warm invoke, interleaved): end to end ${summary(fn)}; execute p50 / function p50 = ${round(median(warm) / median(fn))}`);
}

const fabric = await startFabric({ agentEnv: { WEFT_EXEC_POOL_SIZE: "2", WEFT_STEM_CELLS: "0" }, gatewayEnv: { WEFT_EXECUTE_RATE: "1000", WEFT_EXECUTE_BURST: "1000" } });
try {
  for (const isolation of ["runc", "gvisor"]) {
    for (const runtime of ["python3", "nodejs"] as const) {
      await bench(fabric, runtime, isolation);
    }
  }
} finally {
  await fabric.stop();
}
