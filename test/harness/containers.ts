// What the Docker engine and the host's cgroups say about one agent's containers, read from outside: which
// exist, how much CPU each has used, what CPU limit each runs under. Tests use it to check promises the
// containers cannot report themselves (no CPU is spent after an answer; every container has a CPU limit).
import Dockerode from "dockerode";
import { readFile } from "node:fs/promises";

/** Labels the agent puts on its containers (agents/docker-driver.ts LABELS), read here as an outside observer. */
const LABEL = { agent: "weft.agent", fn: "weft.function" } as const;

export interface CpuLimit {
  /** CPUs the container may use; undefined when unlimited. */
  cpus: number | undefined;
  source: string;
}

/** Candidate cgroup directories of a container: cgroup v1 (cgroupfs, systemd) and v2 layouts. */
function cgroupDirs(id: string, controller: "cpuacct" | "cpu"): string[] {
  return [
    `/sys/fs/cgroup/${controller}/docker/${id}`,
    `/sys/fs/cgroup/${controller}/system.slice/docker-${id}.scope`,
    `/sys/fs/cgroup/docker/${id}`,
    `/sys/fs/cgroup/system.slice/docker-${id}.scope`,
  ];
}

async function firstReadable(paths: string[]): Promise<{ path: string; text: string } | undefined> {
  for (const path of paths) {
    try {
      return { path, text: await readFile(path, "utf8") };
    } catch {
      // not this layout
    }
  }
  return undefined;
}

export class AgentContainers {
  private readonly docker: Dockerode;

  constructor(
    private readonly agentId: string,
    socketPath = process.env.WEFT_DOCKER_SOCKET ?? "/var/run/docker.sock",
  ) {
    this.docker = new Dockerode({ socketPath });
  }

  /** Ids of the agent's running containers (or, with `all`, those not yet removed), optionally only one function's. */
  async ids(fn?: string, all = false): Promise<string[]> {
    const label = [`${LABEL.agent}=${this.agentId}`, ...(fn ? [`${LABEL.fn}=${fn}`] : [])];
    const found = await this.docker.listContainers({ all, filters: { label } });
    return found.map((c) => c.Id);
  }

  /**
   * Whether the container is being (or has been) torn down: removed, removal under way, or no longer running. A
   * container the agent retired goes at once after its answer, and its sandbox's teardown runs in its cgroup.
   */
  async tornDown(id: string): Promise<boolean> {
    try {
      const info = await this.docker.getContainer(id).inspect();
      return info.State.Status !== "running";
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return true;
      throw err;
    }
  }

  /** CPU time the container has used, in ms; undefined once it is gone. */
  async cpuMs(id: string): Promise<number | undefined> {
    const v1 = await firstReadable(cgroupDirs(id, "cpuacct").slice(0, 2).map((d) => `${d}/cpuacct.usage`));
    if (v1) return Number(v1.text.trim()) / 1e6;
    const v2 = await firstReadable(cgroupDirs(id, "cpu").slice(2).map((d) => `${d}/cpu.stat`));
    const usec = v2?.text.match(/^usage_usec (\d+)$/m)?.[1];
    return usec === undefined ? undefined : Number(usec) / 1000;
  }

  /**
   * Voluntary context switches of the container's live threads so far, summed over them: how often its processes
   * went to sleep to be woken later (a thread preempted, or yielding, is not counted). Ended threads are not counted.
   */
  async sleeps(id: string): Promise<number> {
    const tids = await this.threadIds(id);
    if (!tids) throw new Error(`no cgroup found for container ${id}`);
    let total = 0;
    for (const tid of tids) {
      const status = await readFile(`/proc/${tid}/status`, "utf8").catch(() => "");
      for (const m of status.matchAll(/^voluntary_ctxt_switches:\s+(\d+)$/gm)) total += Number(m[1]);
    }
    return total;
  }

  /**
   * The resident anonymous memory of the container's weft-runner, in KiB (its heap, stacks and buffers: what it
   * keeps between calls, besides the binary's pages it shares with every other runner); undefined when none runs.
   */
  async runnerAnonymousKb(id: string): Promise<number | undefined> {
    for (const tid of (await this.threadIds(id)) ?? []) {
      const comm = await readFile(`/proc/${tid}/comm`, "utf8").catch(() => "");
      if (comm.trim() !== "weft-runner") continue;
      const rollup = await readFile(`/proc/${tid}/smaps_rollup`, "utf8").catch(() => "");
      const kb = rollup.match(/^Anonymous:\s+(\d+) kB$/m)?.[1];
      if (kb !== undefined) return Number(kb);
    }
    return undefined;
  }

  /** The ids of the container's live threads, from its cgroup (v1 `tasks` or v2 `cgroup.threads`); undefined without one. */
  private async threadIds(id: string): Promise<string[] | undefined> {
    const dirs = cgroupDirs(id, "cpu");
    const listed = await firstReadable([...dirs.slice(0, 2).map((d) => `${d}/tasks`), ...dirs.slice(2).map((d) => `${d}/cgroup.threads`)]);
    return listed?.text.split("\n").filter(Boolean);
  }

  /**
   * CPU used by each container over `windowMs`, in ms. A container gone by the end of the window counts
   * what it used until its last reading (a removed container spends nothing).
   */
  async cpuGrowth(ids: readonly string[], windowMs: number): Promise<Map<string, number>> {
    const before = new Map<string, number>();
    for (const id of ids) {
      const ms = await this.cpuMs(id);
      if (ms !== undefined) before.set(id, ms);
    }
    // The window is the measurement itself, not a wait for some event.
    await new Promise((r) => setTimeout(r, windowMs));
    const growth = new Map<string, number>();
    for (const [id, start] of before) {
      const end = await this.cpuMs(id);
      growth.set(id, end === undefined ? 0 : end - start);
    }
    return growth;
  }

  /** The CPU limit the kernel enforces on the container (its cgroup), not what was asked for. */
  async cpuLimit(id: string): Promise<CpuLimit | undefined> {
    const dirs = cgroupDirs(id, "cpu");
    const quota = await firstReadable(dirs.slice(0, 2).map((d) => `${d}/cpu.cfs_quota_us`));
    if (quota) {
      const period = await firstReadable([quota.path.replace(/cpu\.cfs_quota_us$/, "cpu.cfs_period_us")]);
      const q = Number(quota.text.trim());
      return { cpus: q > 0 && period ? q / Number(period.text.trim()) : undefined, source: quota.path };
    }
    const max = await firstReadable(dirs.slice(2).map((d) => `${d}/cpu.max`));
    if (!max) return undefined;
    const [q, p] = max.text.trim().split(/\s+/);
    return { cpus: q && q !== "max" ? Number(q) / Number(p) : undefined, source: max.path };
  }

  /** Runs `cmd` in the container as root (docker exec) and returns its exit code: an outside hand, as an operator's. */
  async exec(id: string, cmd: string[]): Promise<number | null> {
    const exec = await this.docker.getContainer(id).exec({ Cmd: cmd, User: "0", AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    stream.resume();
    await new Promise<void>((resolve, reject) => stream.on("end", resolve).on("close", resolve).on("error", reject));
    return (await exec.inspect()).ExitCode;
  }

  /** Removes the agent's containers: only for a fabric that could not stop on its own (its agent hung). */
  async removeAll(): Promise<number> {
    const found = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL.agent}=${this.agentId}`] } });
    await Promise.all(found.map((c) => this.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    return found.length;
  }
}
