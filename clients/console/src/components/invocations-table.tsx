// A table of invocations, newest first, each linking to its record. New ones from the live stream are marked
// for a moment so the eye finds them.
import type { InvocationChange, InvocationRecord } from "../api.js";
import { ago, ms } from "../format.js";
import { Link } from "./link.js";
import { StatusBadge } from "./status.js";

export type Row = Pick<InvocationRecord, "invocationId" | "functionName" | "status" | "enqueuedAt"> &
  Partial<Pick<InvocationChange, "version" | "durationMs" | "coldStart" | "agent" | "error" | "async">> & { fresh?: boolean };

export function InvocationsTable({ rows, showFunction = true, empty }: { rows: Row[]; showFunction?: boolean; empty: string }) {
  return (
    <div class="table-wrap">
      <table aria-label="Invocations">
        <thead>
          <tr>
            <th scope="col">Enqueued</th>
            {showFunction && <th scope="col">Function</th>}
            <th scope="col">Version</th>
            <th scope="col">Status</th>
            <th scope="col" class="num">Duration</th>
            <th scope="col">Start</th>
            <th scope="col">Agent</th>
            <th scope="col">Invocation</th>
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 && (
            <tr>
              <td colSpan={showFunction ? 8 : 7} class="muted empty">
                {empty}
              </td>
            </tr>
          )}
          {rows.map((r) => (
            <tr key={r.invocationId} class={r.fresh ? "fresh" : undefined} data-invocation-id={r.invocationId}>
              <td title={r.enqueuedAt}>{ago(r.enqueuedAt)}</td>
              {showFunction && (
                <td>
                  <Link href={`/functions/${encodeURIComponent(r.functionName)}`}>{r.functionName}</Link>
                </td>
              )}
              <td>{r.version ?? "—"}</td>
              <td>
                <StatusBadge status={r.status} />
                {r.error && <span class="muted small"> {r.error.code}</span>}
              </td>
              <td class="num">{ms(r.durationMs)}</td>
              <td>{r.coldStart === undefined ? "—" : r.coldStart ? "cold" : "warm"}</td>
              <td>{r.agent ?? "—"}</td>
              <td>
                <Link href={`/invocations/${encodeURIComponent(r.invocationId)}`} class="mono">
                  {r.invocationId.slice(0, 8)}
                </Link>
                {r.async && <span class="muted small"> async</span>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
