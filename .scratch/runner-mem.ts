// Scratch: the runner's resident memory and the container's CPU per call, by GOGC (env), alternating.
import Dockerode from "dockerode";
import { readFileSync } from "node:fs";
import { benchDriver, start, type BenchRuntime } from "../test/bench/runner-client.js";
import { childrenMap, withDescendants } from "../test/bench/proc-stat.js";

const settings = (process.env.SETTINGS ?? ",GOGC=25,GOGC=10").split(",");
const runtime = (process.env.RT ?? "python3.13") as BenchRuntime;
const CALLS = Number(process.env.CALLS ?? 3000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const cpuMs = (pid: number) => { try { const f = readFileSync(`/proc/${pid}/stat`, "latin1"); const x = f.slice(f.lastIndexOf(")") + 2).split(" "); return (Number(x[11]) + Number(x[12])) * 10; } catch { return 0; } };
const comm = (pid: number) => { try { return readFileSync(`/proc/${pid}/comm`, "latin1").trim(); } catch { return ""; } };
const rollup = (pid: number) => { const t = readFileSync(`/proc/${pid}/smaps_rollup`, "latin1"); const g = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(t)?.[1] ?? 0); return { rss: g("Rss"), anon: g("Anonymous"), pss: g("Pss") }; };
const docker = new Dockerode();
const { driver, channelDir } = await benchDriver(docker, [runtime], "bench-mem");
const out: Record<string, { rss: number[]; anon: number[]; us: number[]; p50: number[] }> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const s of settings) {
    process.env.WEFT_BENCH_CONTAINER_ENV = s;
    const st = await start(docker, driver, channelDir, runtime, "runc", "runner, socket");
    const pids = () => withDescendants(st.shimPid!, childrenMap()).filter((p) => p !== st.shimPid);
    const event = Buffer.from('{"name":"x"}');
    for (let i = 0; i < 300; i++) { st.client.send({ t: "run", id: `w${i}`, ctx: { invocationId: `w${i}` }, eventBytes: event.length }, event); await st.client.next(); }
    const c0 = pids().reduce((a, p) => a + cpuMs(p), 0);
    const lat: number[] = [];
    for (let i = 0; i < CALLS; i++) { const t = performance.now(); st.client.send({ t: "run", id: String(i), ctx: { invocationId: `b${i}` }, eventBytes: event.length }, event); await st.client.next(); lat.push(performance.now() - t); }
    const c1 = pids().reduce((a, p) => a + cpuMs(p), 0);
    await new Promise((r) => setTimeout(r, 1500));
    const runner = pids().find((p) => comm(p) === "weft-runner")!;
    const m = rollup(runner);
    const o = (out[s || "default"] ??= { rss: [], anon: [], us: [], p50: [] });
    lat.sort((a, b) => a - b);
    o.rss.push(m.rss); o.anon.push(m.anon); o.us.push(Math.round(((c1 - c0) * 1000) / CALLS)); o.p50.push(+lat[CALLS >> 1]!.toFixed(3));
    if (process.env.LOGS) { for (const c of await docker.listContainers({ filters: { name: ["weft-bench-boundary"] } })) { const l = await docker.getContainer(c.Id).logs({ stdout: true, stderr: true, tail: 8 }); console.log(s, l.toString("latin1").replace(/[^\x20-\x7e\n]/g, "")); } }
    await st.stop();
  }
}
console.log(JSON.stringify(out, null, 1));
