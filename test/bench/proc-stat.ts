// What the bench reads from /proc: a process's CPU time and resident memory, its children, and who listens on a
// port. Linux only, like the fabric's agents.
import { readFileSync, readdirSync, readlinkSync } from "node:fs";

/** Clock ticks per second of utime/stime (`getconf CLK_TCK`; 100 on every Linux the fabric runs on). */
const CLK_TCK = 100;

/** User + system CPU of the process (all its threads) in ms; 0 once it is gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm may hold spaces or parentheses: the fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return 0;
  }
}

/**
 * The whole machine's CPU from /proc/stat, in ms summed over its cores: busy (user, nice, system, irq, softirq) and
 * steal (time the hypervisor gave this machine's cores to others). With the fabric's own processes taken away, busy
 * is what else ran on the machine meanwhile: on a shared machine, the noise a figure was measured under.
 */
export function machineCpuMs(): { busy: number; steal: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  const ms = (ticks: number | undefined) => ((ticks ?? 0) * 1000) / CLK_TCK;
  return { busy: ms(user) + ms(nice) + ms(system) + ms(irq) + ms(softirq), steal: ms(steal) };
}

/**
 * Read- and write-family system calls (syscr + syscw from /proc/<pid>/io, every thread) and context switches
 * (voluntary + involuntary, summed over its threads): what a call costs in crossings into the kernel and wake-ups,
 * which the CPU figure alone does not say. Zeros once it is gone.
 */
export function kernelCounts(pid: number): { syscalls: number; switches: number } {
  let syscalls = 0;
  let switches = 0;
  try {
    const io = readFileSync(`/proc/${pid}/io`, "utf8");
    syscalls = Number(/syscr: (\d+)/.exec(io)?.[1] ?? 0) + Number(/syscw: (\d+)/.exec(io)?.[1] ?? 0);
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      switches += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0) + Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
    }
  } catch {
    // gone, or not ours to read
  }
  return { syscalls, switches };
}

/** Resident set size in KiB (VmRSS); 0 once it is gone. */
export const rssKb = (pid: number): number => statusKb(pid, "VmRSS");

/** Anonymous resident memory in KiB (RssAnon: the process's own heap and stacks, not its files' pages); 0 once gone. */
export const anonKb = (pid: number): number => statusKb(pid, "RssAnon");

function statusKb(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Proportional set size in KiB (smaps_rollup): shared pages (a shim's Go text, the runtime image's libraries) are
 * divided among the processes that map them, so summing it over processes gives the host memory they take.
 */
export function pssKb(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function pids(): number[] {
  return readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number);
}

function ppidOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

export function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** Parent → children, over every process now running (one pass over /proc). */
export function childrenMap(): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const pid of pids()) {
    const ppid = ppidOf(pid);
    if (ppid === undefined) continue;
    const list = out.get(ppid) ?? [];
    list.push(pid);
    out.set(ppid, list);
  }
  return out;
}

/** The process and all its descendants. */
export function withDescendants(pid: number, children: Map<number, number[]>): number[] {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

export function parentOf(pid: number): number | undefined {
  return ppidOf(pid);
}

/** Processes whose comm is exactly `name`. */
export function pidsByComm(name: string): number[] {
  return pids().filter((p) => commOf(p) === name);
}

/** The process holding the listening TCP socket on 127.0.0.1:`port` (found by the socket's inode). */
export function pidListeningOn(port: number): number | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is "IP:PORT" in hex; state 0A is LISTEN; column 9 is the inode.
      if (cols[1]?.endsWith(`:${hexPort}`) && cols[3] === "0A" && cols[9]) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const pid of pids()) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) return pid;
      } catch {
        // the fd closed while we looked
      }
    }
  }
  return undefined;
}
