// When `npm run up` restarts a program that died: exponential back-off with a cap, reset by a run that lasted.
// A crash loop is a series of quick deaths. Pure policy (no processes, no timers), so it is unit-tested alone.

export interface RestartPolicyOptions {
  /** Wait before the first restart of a series. */
  initialDelayMs: number;
  /** The back-off doubles per quick death up to this. */
  maxDelayMs: number;
  /** A run at least this long was healthy: the next death starts a new series. */
  stableAfterMs: number;
  /** Quick deaths in a row that make a crash loop. */
  crashLoopAfter: number;
}

/** Deaths in a row, each after a run shorter than stableAfterMs. */
export interface RestartSeries {
  readonly quickDeaths: number;
}

export const NEW_SERIES: RestartSeries = { quickDeaths: 0 };

export interface RestartDecision {
  series: RestartSeries;
  delayMs: number;
  crashLoop: boolean;
}

/** What to do after the program died having run `ranMs`. */
export function afterDeath(series: RestartSeries, ranMs: number, o: RestartPolicyOptions): RestartDecision {
  const quickDeaths = ranMs >= o.stableAfterMs ? 1 : series.quickDeaths + 1;
  return { series: { quickDeaths }, delayMs: backoffMs(quickDeaths, o), crashLoop: isCrashLoop({ quickDeaths }, o) };
}

/** The n-th death of a series (n >= 1) waits initial × 2^(n-1), capped. */
export function backoffMs(n: number, o: RestartPolicyOptions): number {
  const exponent = Math.min(Math.max(n - 1, 0), 30); // 2^30 × any sane delay is past every cap
  return Math.min(o.maxDelayMs, o.initialDelayMs * 2 ** exponent);
}

export function isCrashLoop(series: RestartSeries, o: RestartPolicyOptions): boolean {
  return series.quickDeaths >= o.crashLoopAfter;
}
