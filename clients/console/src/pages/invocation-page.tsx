// One invocation's record: event, output, logs, error, timings (queued → started → finished) and trace id.
// Followed until it is final.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api.js";
import { Link } from "../components/link.js";
import { ResultView } from "../components/result-view.js";
import { useData } from "../data.js";
import { ms, pretty, time } from "../format.js";
import { isFinal } from "../live.js";

const FOLLOW_MS = 1000;

export function InvocationPage({ id }: { id: string }) {
  const [done, setDone] = useState(false);
  const rec = useData((s) => api.invocation(id, s), [id], { everyMs: done ? undefined : FOLLOW_MS });
  const r = rec.data;
  useEffect(() => {
    if (r && isFinal(r.status)) setDone(true);
  }, [r?.status]);
  if (rec.error && !r) {
    return (
      <section class="card">
        <h1>Invocation</h1>
        <p class="error-text" role="alert">
          <code>{rec.error.code}</code> {rec.error.message}
        </p>
      </section>
    );
  }
  if (!r) return <p class="muted">Loading…</p>;
  const t = (iso: string | undefined) => (iso ? Date.parse(iso) : undefined);
  const queued = t(r.enqueuedAt);
  const started = t(r.startedAt);
  const finished = t(r.finishedAt);
  return (
    <>
      <div class="page-head">
        <div>
          <p class="crumbs">
            <Link href="/invocations">Invocations</Link> /
          </p>
          <h1 class="mono">{r.invocationId}</h1>
          <p class="muted small">
            <Link href={`/functions/${encodeURIComponent(r.functionName)}`}>{r.functionName}</Link>
            {r.version !== undefined && ` · version ${r.version}`} · {r.async ? "async" : "sync"}
            {r.attempt !== undefined && r.attempt > 1 && ` · attempt ${r.attempt}`}
            {!isFinal(r.status) && " · following until it finishes"}
          </p>
        </div>
      </div>
      <section class="card" aria-label="Timings">
        <h2>Timings</h2>
        <ol class="timeline">
          <li>
            <strong>Queued</strong> {time(r.enqueuedAt)}
          </li>
          <li>
            <strong>Started</strong> {time(r.startedAt)}
            {queued !== undefined && started !== undefined && <span class="muted"> (waited {ms(started - queued)})</span>}
          </li>
          <li>
            <strong>Finished</strong> {time(r.finishedAt)}
            {started !== undefined && finished !== undefined && <span class="muted"> (ran {ms(finished - started)})</span>}
          </li>
        </ol>
        <p class="small">
          Trace id: <span class="mono">{r.traceId ?? "—"}</span>
        </p>
      </section>
      <section class="card" aria-label="Result">
        <h2>Result</h2>
        <ResultView r={r} />
      </section>
      <section class="card" aria-label="Event">
        <h2>Event{r.eventTruncated ? " (cut at 256 KiB)" : ""}</h2>
        {r.event !== undefined ? <pre class="code">{pretty(r.event)}</pre> : <p class="muted small">Not recorded.</p>}
      </section>
    </>
  );
}
