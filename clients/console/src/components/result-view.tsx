// What an invocation produced: status, output (pretty JSON), logs, error, duration, cold or warm, agent,
// and the invocation id linking to its record. Used for results and for stored records alike.
import type { InvocationRecord, InvocationResult } from "../api.js";
import { ms, pretty } from "../format.js";
import { Link } from "./link.js";
import { StatusBadge } from "./status.js";

type Shown = Pick<InvocationResult, "invocationId"> & { status: string } & Partial<Pick<InvocationRecord, "output" | "error" | "durationMs" | "coldStart" | "agent" | "logs" | "version" | "outputTruncated" | "logsTruncated">>;

export function ResultView({ r }: { r: Shown }) {
  return (
    <div class="result">
      <dl class="facts">
        <div>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={r.status} />
          </dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{ms(r.durationMs)}</dd>
        </div>
        <div>
          <dt>Start</dt>
          <dd>{r.coldStart === undefined ? "—" : r.coldStart ? "cold" : "warm"}</dd>
        </div>
        <div>
          <dt>Version</dt>
          <dd>{r.version ?? "—"}</dd>
        </div>
        <div>
          <dt>Agent</dt>
          <dd>{r.agent ?? "—"}</dd>
        </div>
        <div>
          <dt>Invocation</dt>
          <dd>
            <Link href={`/invocations/${encodeURIComponent(r.invocationId)}`} class="mono">
              {r.invocationId}
            </Link>
          </dd>
        </div>
      </dl>
      {r.error && (
        <div class="error-box">
          <strong>{r.error.code}</strong>
          {r.error.type && <span> ({r.error.type})</span>}: {r.error.message}
          {r.error.stack && <pre class="code small">{r.error.stack}</pre>}
        </div>
      )}
      {r.output !== undefined && (
        <>
          <h3>Output{r.outputTruncated ? " (cut at 256 KiB)" : ""}</h3>
          <pre class="code" aria-label="Output">{pretty(r.output)}</pre>
        </>
      )}
      <h3>Logs{r.logsTruncated ? " (cut at 256 KiB)" : ""}</h3>
      {r.logs ? <pre class="code" aria-label="Logs">{r.logs}</pre> : <p class="muted small">No output on stdout or stderr.</p>}
    </div>
  );
}
