// Every invocation, newest first, across functions or of one: filter by function, status and time, page
// back through the history, and watch new ones arrive live (made by anyone: HTTP, gRPC or NATS).
import { useState } from "preact/hooks";
import { api, type InvocationStatus } from "../api.js";
import { InvocationsTable, type Row } from "../components/invocations-table.js";
import { useData } from "../data.js";
import { overlay, useInvocationStream, useLiveChanges } from "../live.js";
import { navigate, useLocation } from "../router.js";

const PAGE = 50;
const STATUSES: InvocationStatus[] = ["queued", "running", "ok", "error", "timeout", "killed"];

export function InvocationsPage() {
  const { query } = useLocation();
  const fn = query.get("function") ?? "";
  const status = (query.get("status") ?? "") as InvocationStatus | "";
  const before = query.get("before") ?? "";
  const functions = useData((s) => api.listFunctions(s), []);
  const page = useData((s) => api.history({ function: fn || undefined, status: status || undefined, before: before || undefined, limit: PAGE }, s), [fn, status, before]);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [paused, setPaused] = useState(false);
  const live = useLiveChanges(`${fn}|${status}|${before}`, PAGE);
  // Live only on the newest page: an older page is a fixed slice of history.
  const following = before === "" && !paused;

  const state = useInvocationStream(
    { function: fn || undefined, status: status || undefined },
    {
      change: (c) => {
        live.add(c);
        setFresh((s) => new Set(s).add(c.invocationId));
      },
      lagged: page.reload,
    },
    following,
  );

  const set = (k: string, v: string) => {
    const q = new URLSearchParams(query);
    if (v) q.set(k, v);
    else q.delete(k);
    if (k !== "before") q.delete("before");
    const s = q.toString();
    navigate(`/invocations${s ? `?${s}` : ""}`);
  };

  const rows = overlay((page.data?.invocations ?? []) as Row[], live.changes, PAGE).map((r) => (fresh.has(r.invocationId) ? { ...r, fresh: true } : r));
  const beforeInput = /^\d{4}-/.test(before) ? before.slice(0, 16) : "";
  return (
    <>
      <div class="page-head">
        <h1>Invocations</h1>
        <p class={`live-state live-${following ? state : "off"}`} role="status">
          {following ? (state === "live" ? "Live: new invocations appear as they happen" : "Connecting to the live stream…") : before ? "An older page (not live)" : "Live updates paused"}
        </p>
      </div>
      <section class="card filters" aria-label="Filters">
        <label>
          Function{" "}
          <select value={fn} onChange={(e) => set("function", e.currentTarget.value)}>
            <option value="">all functions</option>
            {(functions.data?.functions ?? []).map((f) => (
              <option value={f.name} key={f.name}>
                {f.name}
              </option>
            ))}
            {fn && !(functions.data?.functions ?? []).some((f) => f.name === fn) && <option value={fn}>{fn}</option>}
          </select>
        </label>
        <label>
          Status{" "}
          <select value={status} onChange={(e) => set("status", e.currentTarget.value)}>
            <option value="">any status</option>
            {STATUSES.map((s) => (
              <option value={s} key={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Before{" "}
          <input
            type="datetime-local"
            value={beforeInput}
            onChange={(e) => set("before", e.currentTarget.value ? new Date(e.currentTarget.value).toISOString() : "")}
          />
        </label>
        <label class="inline">
          <input type="checkbox" checked={!paused} onChange={(e) => setPaused(!e.currentTarget.checked)} disabled={before !== ""} /> Live
        </label>
      </section>
      {page.error && (
        <p class="error-text" role="alert">
          <code>{page.error.code}</code> {page.error.message}
        </p>
      )}
      <section class="card flush">
        <InvocationsTable rows={rows} empty={page.loading && !page.data ? "Loading…" : "No invocations match."} />
        <div class="pager">
          <button type="button" onClick={() => set("before", "")} disabled={before === ""}>
            Newest
          </button>
          <button type="button" onClick={() => page.data?.next && set("before", page.data.next)} disabled={!page.data?.next}>
            Older
          </button>
        </div>
      </section>
    </>
  );
}
