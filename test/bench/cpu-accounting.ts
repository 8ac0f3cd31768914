// The bench's CPU-accounting mode: every process one invocation touches, its CPU (from /proc) over a fixed number
// of calls, per call. Shared processes (dockerd, containerd) also serve other work on the machine, so each
// group's idle rate, measured just before over the same processes, is subtracted: the figure is what the calls added.
import type { ChildProcess } from "node:child_process";
import { loadavg } from "node:os";
import type Dockerode from "dockerode";
import { anonKb, childrenMap, commOf, cpuMs, kernelCounts, machineCpuMs, parentOf, pidListeningOn, pidsByComm, pssKb, rssKb, withDescendants } from "./proc-stat.js";

export interface ProcessGroups {
  /** Group name → the pids it is made of now. */
  resolve(): Promise<Map<string, number[]>>;
}

export interface FabricProcesses {
  components: Map<string, ChildProcess>;
  natsPort: number;
  mongoPort: number;
  agentId: string;
  docker: Dockerode;
}

/** The order of the table: the path of a call, then the engine's processes, then the function's container. */
export const GROUPS = ["gateway", "agent", "nats-server", "controller", "ferretdb", "dockerd", "containerd", "containerd-shim", "containers"] as const;

export interface AgentContainer {
  id: string;
  pid: number;
  fn: string | undefined;
}

/** The agent's running containers with their init pid (function containers, stem cells, the ad-hoc pool). */
export async function agentContainers(docker: Dockerode, agentId: string): Promise<AgentContainer[]> {
  const list = await docker.listContainers({ filters: { label: [`weft.agent=${agentId}`], status: ["running"] } });
  const out: AgentContainer[] = [];
  for (const c of list) {
    const info = await docker.getContainer(c.Id).inspect().catch(() => undefined);
    if (info?.State.Pid) out.push({ id: c.Id, pid: info.State.Pid, fn: c.Labels["weft.function"] });
  }
  return out;
}

/** containerd-shim is the parent of a container's init process (runc: one shim per container). */
export function shimOf(containerPid: number): number | undefined {
  const p = parentOf(containerPid);
  return p !== undefined && commOf(p).startsWith("containerd-shim") ? p : undefined;
}

export function fabricGroups(f: FabricProcesses): ProcessGroups {
  return {
    async resolve() {
      const pidOf = (name: string) => f.components.get(name)?.pid;
      const containers = await agentContainers(f.docker, f.agentId);
      const children = childrenMap();
      const groups = new Map<string, number[]>([
        ["gateway", [pidOf("gateway")].filter(isPid)],
        ["agent", [pidOf("agents")].filter(isPid)],
        ["controller", [pidOf("controller")].filter(isPid)],
        ["nats-server", [pidListeningOn(f.natsPort)].filter(isPid)],
        ["ferretdb", [pidListeningOn(f.mongoPort)].filter(isPid)],
        ["dockerd", pidsByComm("dockerd")],
        ["containerd", pidsByComm("containerd")],
        ["containerd-shim", [...new Set(containers.map((c) => shimOf(c.pid)).filter(isPid))]],
        ["containers", containers.flatMap((c) => withDescendants(c.pid, children))],
      ]);
      return groups;
    },
  };
}

const isPid = (p: number | undefined): p is number => typeof p === "number" && p > 0;

/** CPU in ms of each group's processes now (all their threads). */
export function snapshot(groups: Map<string, number[]>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, pids] of groups) out.set(name, pids.reduce((sum, p) => sum + cpuMs(p), 0));
  return out;
}

export interface CpuRow {
  process: string;
  /** CPU per call in ms, the group's idle rate subtracted. */
  msPerCall: number;
  /** CPU per call in ms as read, idle included. */
  rawMsPerCall: number;
  /** Share of the summed per-call CPU, in %. */
  share: number;
  pids: number;
  /** Of `pids`, those that appeared during the window (containers started to meet the load): all their CPU is counted. */
  bornPids: number;
  /** Read/write-family system calls per call (raw, idle included). */
  syscallsPerCall: number;
  /** Context switches per call (raw, idle included): each is a wake-up the kernel scheduled. */
  switchesPerCall: number;
}

export interface CpuReport {
  /** The machine's 1-minute load average before and after: a shared machine's contention inflates CPU per call. */
  loadavg: [number, number];
  calls: number;
  concurrency: number;
  /** The calls, first to last answer. */
  elapsedMs: number;
  /** After the last answer, until the work the calls left (their records) was done; in the CPU window. */
  settleMs: number;
  callsPerSec: number;
  totalMsPerCall: number;
  /** The bench process itself (the load generator), not counted in the total. */
  loadGeneratorMsPerCall: number;
  /**
   * CPU the rest of the machine used in the window, per call: busy time of every core less the fabric's processes
   * (raw) and the load generator. A run with much of it shared the cores with other work: read its figures as noisy.
   */
  outsideMsPerCall: number;
  /** Time the hypervisor took from this machine's cores in the window, per call (ms). */
  stealMsPerCall: number;
  rows: CpuRow[];
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
const round1 = (x: number) => Math.round(x * 10) / 10;

function kernelSnapshot(groups: Map<string, number[]>): Map<string, { syscalls: number; switches: number }> {
  const out = new Map<string, { syscalls: number; switches: number }>();
  for (const [name, pids] of groups) {
    const sum = { syscalls: 0, switches: 0 };
    for (const p of pids) {
      const k = kernelCounts(p);
      sum.syscalls += k.syscalls;
      sum.switches += k.switches;
    }
    out.set(name, sum);
  }
  return out;
}

/**
 * Pids each group has at the end of the window that it did not have when it was resolved: containers the pool
 * started during the calls, and their processes. They were born inside the window (or in the idle window just
 * before it), so all their CPU is charged to the calls.
 */
function newPids(before: Map<string, number[]>, after: Map<string, number[]>): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [name, pids] of after) {
    const known = new Set(before.get(name) ?? []);
    out.set(name, pids.filter((p) => !known.has(p)));
  }
  return out;
}

/**
 * Runs `calls` calls through `run` (which makes them, `concurrency` at a time) and charges each process group its
 * CPU over them. The groups are resolved before the idle window, so both windows read the same pids, and again at
 * the end: a process that appeared meanwhile (a container the pool started to meet the load) is charged all its
 * CPU. One that ended inside the window takes its CPU since the window began with it, so a container removed during
 * the calls is undercounted; the pool removes none while its function is busy.
 */
export async function accountCpu(
  groups: ProcessGroups,
  calls: number,
  concurrency: number,
  run: () => Promise<void>,
  idleMs = 2000,
  /**
   * Awaited inside the window once the calls are done: the work they left behind (records still being stored)
   * is theirs, so the window ends only when it is done. The calls' rate is taken from `run` alone.
   */
  settle?: () => Promise<void>,
): Promise<CpuReport> {
  const load0 = loadavg()[0]!;
  const pids = await groups.resolve();
  const idle0 = snapshot(pids);
  const tIdle = performance.now();
  await new Promise((r) => setTimeout(r, idleMs));
  const idle1 = snapshot(pids);
  const idleElapsed = performance.now() - tIdle;

  const self0 = process.cpuUsage();
  const kernel0 = kernelSnapshot(pids);
  const before = snapshot(pids);
  const machine0 = machineCpuMs();
  const t0 = performance.now();
  await run();
  const elapsedMs = performance.now() - t0;
  await settle?.();
  const windowMs = performance.now() - t0;
  const after = snapshot(pids);
  const machine1 = machineCpuMs();
  const kernel1 = kernelSnapshot(pids);
  const self = process.cpuUsage(self0);
  const born = newPids(pids, await groups.resolve());
  const bornCpu = snapshot(born);
  const bornKernel = kernelSnapshot(born);

  const rows: CpuRow[] = [];
  let fabricRawMs = 0;
  for (const name of GROUPS) {
    const list = pids.get(name) ?? [];
    const raw = (after.get(name) ?? 0) - (before.get(name) ?? 0) + (bornCpu.get(name) ?? 0);
    const idleRate = ((idle1.get(name) ?? 0) - (idle0.get(name) ?? 0)) / idleElapsed;
    fabricRawMs += raw;
    const net = Math.max(0, raw - idleRate * windowMs);
    const k0 = kernel0.get(name);
    const k1 = kernel1.get(name);
    const kb = bornKernel.get(name);
    const bornHere = born.get(name)?.length ?? 0;
    rows.push({
      process: name, msPerCall: round3(net / calls), rawMsPerCall: round3(raw / calls), share: 0, pids: list.length + bornHere, bornPids: bornHere,
      syscallsPerCall: round1(((k1?.syscalls ?? 0) - (k0?.syscalls ?? 0) + (kb?.syscalls ?? 0)) / calls),
      switchesPerCall: round1(((k1?.switches ?? 0) - (k0?.switches ?? 0) + (kb?.switches ?? 0)) / calls),
    });
  }
  const total = rows.reduce((s, r) => s + r.msPerCall, 0);
  const loadGeneratorMs = (self.user + self.system) / 1000;
  const outsideMs = Math.max(0, machine1.busy - machine0.busy - fabricRawMs - loadGeneratorMs);
  for (const r of rows) r.share = total > 0 ? Math.round((r.msPerCall / total) * 1000) / 10 : 0;
  return {
    loadavg: [load0, loadavg()[0]!],
    calls,
    concurrency,
    elapsedMs: Math.round(elapsedMs),
    settleMs: Math.round(windowMs - elapsedMs),
    callsPerSec: Math.round((calls / elapsedMs) * 1000),
    totalMsPerCall: round3(total),
    loadGeneratorMsPerCall: round3(loadGeneratorMs / calls),
    outsideMsPerCall: round3(outsideMs / calls),
    stealMsPerCall: round3((machine1.steal - machine0.steal) / calls),
    rows,
  };
}

/**
 * Host memory of function containers: RSS of each container's processes plus its shim, in MiB, and the same as PSS
 * (shared pages divided among their users: what 100 containers really add to the host).
 */
export function containerMemory(containers: AgentContainer[]): {
  containers: number;
  meanMiB: number;
  totalMiB: number;
  shimMeanMiB: number;
  pssMeanMiB: number;
  /** By process name (the shim, the container's init, weft-runner, the worker): RSS and anonymous RSS, mean and max. */
  byProcess: Record<string, { meanMiB: number; maxMiB: number; anonMeanMiB: number; anonMaxMiB: number }>;
} {
  const children = childrenMap();
  let total = 0;
  let shims = 0;
  let pss = 0;
  const byComm = new Map<string, { rss: number[]; anon: number[] }>();
  for (const c of containers) {
    const shim = shimOf(c.pid);
    for (const p of [...withDescendants(c.pid, children), ...(shim === undefined ? [] : [shim])]) {
      const kb = rssKb(p);
      total += kb;
      pss += pssKb(p);
      if (p === shim) shims += kb;
      const comm = p === shim ? "containerd-shim" : commOf(p);
      const entry = byComm.get(comm) ?? { rss: [], anon: [] };
      entry.rss.push(kb);
      entry.anon.push(anonKb(p));
      byComm.set(comm, entry);
    }
  }
  const n = containers.length || 1;
  const mib = (kb: number) => Math.round((kb / 1024) * 10) / 10;
  const byProcess = Object.fromEntries(
    [...byComm].map(([comm, { rss, anon }]) => [
      comm,
      { meanMiB: mib(sum(rss) / n), maxMiB: mib(Math.max(...rss)), anonMeanMiB: mib(sum(anon) / n), anonMaxMiB: mib(Math.max(...anon)) },
    ]),
  );
  return { containers: containers.length, meanMiB: mib(total / n), totalMiB: mib(total), shimMeanMiB: mib(shims / n), pssMeanMiB: mib(pss / n), byProcess };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
