// A time-series chart (uPlot): bars or lines over the window's steps, coloured from the page's theme and
// redrawn when the system switches between light and dark.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartSeries {
  label: string;
  /** A CSS variable holding the colour, e.g. "--chart-1". */
  color: string;
  values: Array<number | null>;
  kind: "bars" | "line";
}

interface Props {
  title: string;
  /** Seconds since the epoch, one per step. */
  x: number[];
  series: ChartSeries[];
  unit: string;
  height?: number;
}

const dark = matchMedia("(prefers-color-scheme: dark)");
const cssVar = (name: string): string => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";

function options(p: Props, width: number): uPlot.Options {
  const muted = cssVar("--muted");
  const grid = cssVar("--grid");
  const axis = { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  return {
    width,
    height: p.height ?? 160,
    legend: { show: true, live: true },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(1, (max ?? 1) * 1.1)] } },
    axes: [axis, { ...axis, size: 48, values: (_u, ticks) => ticks.map((t) => `${+t.toFixed(2)}`) }],
    series: [
      {},
      ...p.series.map((s) => ({
        label: s.label,
        stroke: cssVar(s.color),
        fill: s.kind === "bars" ? `${cssVar(s.color)}99` : undefined,
        width: s.kind === "bars" ? 0 : 1.75,
        paths: s.kind === "bars" ? uPlot.paths.bars!({ size: [0.7, 40], gap: 1 }) : undefined,
        // A lone sample between empty steps is a dot, not an invisible line.
        points: s.kind === "line" ? { show: true, size: 5, fill: cssVar(s.color) } : { show: false },
        spanGaps: false,
        value: (_u: uPlot, v: number | null) => (v === null ? "—" : `${+v.toFixed(2)} ${p.unit}`),
      })),
    ],
  };
}

export function Chart(p: Props) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const props = useRef(p);
  props.current = p;
  const data = (): uPlot.AlignedData => [p.x, ...p.series.map((s) => s.values)];
  const points = p.series.reduce((n, s) => n + s.values.filter((v) => v !== null && v !== 0).length, 0);

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const build = () => {
      plot.current?.destroy();
      plot.current = new uPlot(options(props.current, el.clientWidth || 300), [props.current.x, ...props.current.series.map((s) => s.values)], el);
    };
    build();
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: el.clientWidth || 300, height: props.current.height ?? 160 }));
    resize.observe(el);
    dark.addEventListener("change", build);
    return () => {
      resize.disconnect();
      dark.removeEventListener("change", build);
      plot.current?.destroy();
      plot.current = undefined;
    };
  }, [p.series.length]);

  useEffect(() => {
    plot.current?.setData(data());
  }, [p.x, p.series]);

  return (
    <figure class="chart" aria-label={p.title} data-points={points}>
      <figcaption>{p.title}</figcaption>
      <div ref={host} class="chart-canvas" />
    </figure>
  );
}
