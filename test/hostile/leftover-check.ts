// The judge of "nothing a call starts outlives its answer", shared by the leftover cases of every runtime: after
// the leaking call's answer its container spends no CPU, and the next call (a probe) sees no trace of work done
// after that answer (ticks in memory and in /tmp, LEAKED-WORK lines, live processes, a forged answer).
import assert from "node:assert/strict";
import { FORGED, describeResult, type Hostile } from "./suite.js";

/** CPU a container may use while idle over the window (an idle runc or gVisor container uses under 1 ms). */
const IDLE_CPU_MS = 25;
/**
 * CPU a container torn down during the window may use: the agent removes a container the call left work in right
 * after its answer, and the teardown runs in the container's cgroup (a gVisor sandbox's: 7-10 ms here when quiet, 29
 * ms seen on a loaded machine; runc's: under 1 ms). The sandbox's removal ends whatever ran in it.
 */
const TEARDOWN_CPU_MS = 150;
const WINDOW_MS = 400;
/** Container clocks may trail the host's by this much. */
const CLOCK_SLACK_MS = 5;
/**
 * The leaking call's own budget: some attacks work before they return (the forger scans 128 MiB of its memory for
 * tokens), and a function container has a low CPU weight, so on a loaded machine that takes seconds.
 */
export const LEAK_TIMEOUT_MS = 20_000;

/** The containers to watch: the one the handler named (its cgroup on runc), and those labelled with its function. */
async function containersOf(h: Hostile, name: string, reported: string | null): Promise<string[]> {
  const ids = new Set<string>(reported ? [reported] : []);
  for (const id of await h.containers.ids(name)) ids.add(id);
  return [...ids];
}

/** The containers whose CPU over the window is over their bound: the idle bound, or the teardown bound for one going now. */
async function overBound(h: Hostile, growth: Map<string, number>): Promise<string[]> {
  const over: string[] = [];
  for (const [id, ms] of growth) {
    if (ms <= IDLE_CPU_MS) continue;
    const going = await h.containers.tornDown(id);
    if (ms > (going ? TEARDOWN_CPU_MS : IDLE_CPU_MS)) over.push(`${id.slice(0, 12)}${going ? " (torn down)" : ""}: ${ms.toFixed(0)} ms`);
  }
  return over;
}

/**
 * Invokes `name` with `startEvent` (the leak), watches its container's CPU after the answer, then calls it with
 * `{probe: true, afterMs}`, whose output reports what ran after the answer. The function is deleted at the end.
 */
export async function assertNothingOutlivesTheCall(h: Hostile, name: string, startEvent: unknown): Promise<void> {
  let passed = false;
  try {
    const a = await h.invoke(name, startEvent);
    const leaking = `the leaking call (${a.body?.invocationId ?? "no id"}, answered in ${a.ms.toFixed(0)} ms)`;
    assert.equal(a.status, 200, `${leaking}: HTTP ${a.status} ${JSON.stringify(a.body)}`);
    // A bomb may fill the sandbox before the handler returns: then its container is gone with the work in it.
    assert.ok(a.body.status === "ok" || a.body.status === "killed", `${leaking}: ${describeResult(a.body)}`);
    const watched = a.body.status === "ok" ? await containersOf(h, name, a.body.output?.containerId ?? null) : [];
    if (a.body.status === "ok") assert.ok(watched.length > 0, "could not find the function's container to watch its CPU");
    // Judged at the window's end: whether a container was being torn down then, not later.
    const burning = await overBound(h, await h.containers.cpuGrowth(watched, WINDOW_MS));
    await h.settled(a, ["ok", "killed"], leaking);
    const p = await h.invoke(name, { probe: true, afterMs: a.answeredAt + CLOCK_SLACK_MS });
    const probe = await h.settled(p, ["ok"], `the next call (${p.body?.invocationId ?? "no id"}, answered in ${p.ms.toFixed(0)} ms)`);
    const out = probe.output as { memoryTicksAfter: number; fileTicksAfter: number; leftovers: unknown[]; hijack: number | null };
    const seen = `${leaking}: ${describeResult(a.body)}; the next call: ${describeResult(probe)}`;
    assert.deepEqual(burning, [], `CPU spent in the ${WINDOW_MS} ms after the answer (bound ${IDLE_CPU_MS} ms, ${TEARDOWN_CPU_MS} ms torn down); ${seen}`);
    assert.equal(out.memoryTicksAfter, 0, `the leaked work ticked in memory after the answer: ${JSON.stringify(out)}; ${seen}`);
    assert.equal(out.fileTicksAfter, 0, `the leaked work wrote to /tmp after the answer: ${JSON.stringify(out)}; ${seen}`);
    assert.deepEqual(out.leftovers, [], `processes left running by the previous call; ${seen}`);
    assert.ok(out.hijack === null || out.hijack <= a.answeredAt, `a timer mutated the function's state after the answer (at ${out.hijack}, answered at ${a.answeredAt}); ${seen}`);
    assert.ok(!probe.logs.includes("LEAKED-WORK"), `the leaked work wrote into the next call's logs: ${probe.logs.slice(0, 200)}`);
    assert.ok(!JSON.stringify(probe.output).includes(FORGED), `the leaked work forged the next call's answer: ${describeResult(probe)}`);
    assert.equal((probe.output as { genuine?: boolean }).genuine, true, describeResult(probe));
    passed = true;
  } finally {
    // Deleting the function retires its containers: whatever this case left running stops loading the machine.
    await h.request("DELETE", `/v1/functions/${name}`);
  }
  // Removed while this case still counts as attacking: removing a container (a gVisor one above all) loads dockerd
  // and the cores for seconds on a loaded machine, which the canary's health check, taken next, would pay for.
  if (passed) await h.containersRemoved(name);
}
