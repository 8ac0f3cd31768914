// What an invocation produced: status, output (pretty JSON), logs, error, duration, cold or warm, agent,
// and the invocation id linking to its record. Used for results and for stored records alike.
import type { InvocationRecord, InvocationResult } from "../api.js";
import { ms, pretty } from "../format.js";
import { ErrorBox, Fact, InvocationLink } from "./facts.js";
import { StatusBadge } from "./status.js";

type Shown = Pick<InvocationResult, "invocationId"> & { status: string } & Partial<Pick<InvocationRecord, "output" | "error" | "durationMs" | "coldStart" | "agent" | "logs" | "version" | "outputTruncated" | "logsTruncated">>;

export function ResultView({ r }: { r: Shown }) {
  return (
    <div class="result">
      <dl class="facts">
        <Fact label="Status">
          <StatusBadge status={r.status} />
        </Fact>
        <Fact label="Duration">{ms(r.durationMs)}</Fact>
        <Fact label="Start">{r.coldStart === undefined ? "—" : r.coldStart ? "cold" : "warm"}</Fact>
        <Fact label="Version">{r.version ?? "—"}</Fact>
        <Fact label="Agent">{r.agent ?? "—"}</Fact>
        <Fact label="Invocation">
          <InvocationLink id={r.invocationId} />
        </Fact>
      </dl>
      {r.error && <ErrorBox error={r.error} />}
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
