// The "Metrics" region: calls and failures per minute, latency percentiles and cold starts over a chosen
// window, for one function or for the whole fabric. Refreshed every few seconds.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, type MetricsSeries } from "../api.js";
import { useData } from "../data.js";
import { count, ms } from "../format.js";
import { Chart } from "./chart.js";

// A window's metrics are read from its records, so longer windows (more records to read) refresh less often.
const WINDOWS = [
  { label: "15 min", ms: 15 * 60_000, refreshMs: 5000 },
  { label: "1 h", ms: 3600_000, refreshMs: 15_000 },
  { label: "24 h", ms: 24 * 3600_000, refreshMs: 60_000 },
] as const;
/** The record reaches MongoDB a moment after the live stream tells of it; several finishing together reload once. */
const NUDGE_DELAY_MS = 700;

/** Invocations finishing move the charts: `nudge` changes then, and the panel reloads (at most once a second). */
export function MetricsPanel({ name, nudge }: { name?: string; nudge?: number }) {
  const [windowMs, setWindowMs] = useState<number>(WINDOWS[1].ms);
  const metrics = useData(
    (signal) => (name ? api.functionMetrics(name, windowMs, signal) : api.fabricMetrics(windowMs, signal)),
    [name, windowMs],
    { everyMs: WINDOWS.find((w) => w.ms === windowMs)?.refreshMs },
  );
  useEffect(() => {
    if (!nudge) return;
    const timer = setTimeout(metrics.reload, NUDGE_DELAY_MS);
    return () => clearTimeout(timer);
  }, [nudge]);
  const m = metrics.data;
  return (
    <section class="card metrics" aria-label="Metrics">
      <header class="card-head">
        <h2>{name ? "Metrics" : "Metrics (all functions)"}</h2>
        <div class="segmented" role="radiogroup" aria-label="Window">
          {WINDOWS.map((w) => (
            <button type="button" role="radio" aria-checked={w.ms === windowMs} onClick={() => setWindowMs(w.ms)} key={w.ms}>
              {w.label}
            </button>
          ))}
        </div>
      </header>
      {metrics.error && !m && <p class="error-text">{metrics.error.message}</p>}
      {m && <Totals m={m} />}
      {m && <Charts m={m} />}
      {!m && !metrics.error && <p class="muted">Loading…</p>}
    </section>
  );
}

function Totals({ m }: { m: MetricsSeries }) {
  const t = m.totals;
  const items: Array<[string, string]> = [
    ["Calls", count(t.count)],
    ["Failed", count(t.failed)],
    ["p50", ms(t.durationMs.p50)],
    ["p95", ms(t.durationMs.p95)],
    ["p99", ms(t.durationMs.p99)],
    ["Cold starts", count(t.coldStarts)],
  ];
  return (
    <dl class="totals">
      {items.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

function Charts({ m }: { m: MetricsSeries }) {
  const perMinute = 60_000 / m.stepMs;
  const rate = (n: number) => +(n * perMinute).toFixed(3);
  const d = useMemo(
    () => ({
      x: m.buckets.map((b) => b.t / 1000),
      // Failed bars are drawn over the calls bars: the red part of a bar is the share that failed.
      calls: [
        { label: "calls", color: "--chart-1", kind: "bars" as const, values: m.buckets.map((b) => rate(b.count)) },
        { label: "failed", color: "--chart-err", kind: "bars" as const, values: m.buckets.map((b) => rate(b.failed)) },
      ],
      latency: [
        { label: "p50", color: "--chart-1", kind: "line" as const, values: m.buckets.map((b) => b.p50) },
        { label: "p95", color: "--chart-2", kind: "line" as const, values: m.buckets.map((b) => b.p95) },
        { label: "p99", color: "--chart-3", kind: "line" as const, values: m.buckets.map((b) => b.p99) },
      ],
      cold: [{ label: "cold starts", color: "--chart-2", kind: "bars" as const, values: m.buckets.map((b) => b.coldStarts) }],
    }),
    [m],
  );
  const per = m.stepMs === 60_000 ? "per minute" : `per minute (${m.stepMs / 60_000}-minute steps)`;
  return (
    <div class="charts">
      <Chart title={`Calls and errors ${per}`} x={d.x} series={d.calls} unit="/min" />
      <Chart title="Latency (ms)" x={d.x} series={d.latency} unit="ms" />
      <Chart title="Cold starts" x={d.x} series={d.cold} unit="" />
    </div>
  );
}
