// The soak: issue 8's "stable for 60 s with no error and flat memory". A closed loop of a fixed number of clients for a
// fixed time, its answers counted in slices of that time, and the fabric's resident memory read at the end of each
// slice. soakFigures() turns the counts and samples into the figures the bench reports (pure; test/unit/soak.test.ts).

/** RSS in MiB of each group of processes (gateway, agent, nats-server, ..., containers) at one moment. */
export type MemorySample = Record<string, number>;

export interface SoakRun {
  latencies: number[];
  errors: number;
  /** Answers in each slice (an answer counts in the slice it arrived in). */
  sliceCounts: number[];
  /** One sample at the end of each slice. */
  memory: MemorySample[];
}

export interface SoakFigures {
  /** Answers per second over the whole soak. */
  rps: number;
  /** Answers per second of each slice. */
  sliceRps: number[];
  slowestSliceRps: number;
  /** The slowest slice over the median slice: 1 is perfectly steady. */
  steadiness: number;
  /** Every group's RSS summed, at the end of the last slice over the end of the first: 1 is flat. */
  memoryGrowth: number;
  /** Each group's RSS at the end of the last slice less at the end of the first, MiB. */
  memoryGrowthMiB: Record<string, number>;
  memoryFirstMiB: number;
  memoryLastMiB: number;
}

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;
const total = (s: MemorySample): number => Object.values(s).reduce((a, b) => a + b, 0);

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function soakFigures(run: Pick<SoakRun, "sliceCounts" | "memory">, sliceMs: number): SoakFigures {
  const sliceRps = run.sliceCounts.map((n) => Math.round((n * 1000) / sliceMs));
  const calls = run.sliceCounts.reduce((a, b) => a + b, 0);
  const slowest = sliceRps.length ? Math.min(...sliceRps) : 0;
  const mid = sliceRps.length ? median(sliceRps) : 0;
  const first = run.memory[0] ?? {};
  const last = run.memory[run.memory.length - 1] ?? {};
  const growthMiB: Record<string, number> = {};
  for (const group of Object.keys(last)) growthMiB[group] = round((last[group] ?? 0) - (first[group] ?? 0), 1);
  const [firstMiB, lastMiB] = [total(first), total(last)];
  return {
    rps: sliceRps.length ? Math.round((calls * 1000) / (sliceMs * sliceRps.length)) : 0,
    sliceRps,
    slowestSliceRps: slowest,
    steadiness: mid > 0 ? round(slowest / mid, 3) : 0,
    memoryGrowth: firstMiB > 0 ? round(lastMiB / firstMiB, 3) : 0,
    memoryGrowthMiB: growthMiB,
    memoryFirstMiB: round(firstMiB, 1),
    memoryLastMiB: round(lastMiB, 1),
  };
}

const sleepUntil = (t: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, t - performance.now())));

/**
 * `clients` callers, each calling again as soon as its last call is answered, for `slices` x `sliceMs`; `memory()`
 * is read at the end of each slice. A call that throws is an error and is not counted in a slice.
 */
export async function soak(opts: { slices: number; sliceMs: number; clients: number; call: () => Promise<number>; memory: () => Promise<MemorySample> }): Promise<SoakRun> {
  const { slices, sliceMs, clients, call, memory } = opts;
  const sliceCounts = new Array<number>(slices).fill(0);
  const latencies: number[] = [];
  const samples: MemorySample[] = [];
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + slices * sliceMs;
  const caller = async () => {
    while (performance.now() < end) {
      try {
        const ms = await call();
        const slice = Math.floor((performance.now() - t0) / sliceMs);
        if (slice < slices) {
          sliceCounts[slice]!++;
          latencies.push(ms);
        }
      } catch {
        errors++;
      }
    }
  };
  const sampler = async () => {
    for (let i = 1; i <= slices; i++) {
      await sleepUntil(t0 + i * sliceMs);
      samples.push(await memory());
    }
  };
  await Promise.all([sampler(), ...Array.from({ length: clients }, caller)]);
  return { latencies, errors, sliceCounts, memory: samples };
}
