// The invoke panel: a JSON event (checked as you type), sync or async, the latest or a chosen version; the
// result below in the "Result" region. An async call is followed until its record is final.
import { useEffect, useState } from "preact/hooks";
import { ApiError, api, type InvocationChange, type InvocationRecord, type InvocationResult } from "../api.js";
import { FieldError } from "../components/field.js";
import { Link } from "../components/link.js";
import { ResultView } from "../components/result-view.js";
import { StatusBadge } from "../components/status.js";
import { isFinal } from "../live.js";

/** The record of an async call is stored well within this; the first look waits that long. */
const RECORD_POLL_MS = 1500;

type Outcome =
  | { kind: "result"; result: InvocationResult }
  | { kind: "pending"; invocationId: string; status: string }
  | { kind: "record"; record: InvocationRecord }
  | { kind: "error"; error: ApiError };

export function InvokePanel({ name, versions, aliases, lastChange }: { name: string; versions: number[]; aliases: string[]; lastChange: InvocationChange | undefined }) {
  const [event, setEvent] = useState(() => localStorage.getItem(`weft.event.${name}`) ?? '{\n  "name": "weft"\n}');
  const [mode, setMode] = useState<"sync" | "async">("sync");
  const [version, setVersion] = useState("");
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | undefined>();
  const problem = jsonProblem(event);

  useEffect(() => {
    localStorage.setItem(`weft.event.${name}`, event);
  }, [name, event]);

  const pendingId = outcome?.kind === "pending" ? outcome.invocationId : undefined;
  const [nudge, setNudge] = useState(0);
  // The page's live stream says when the call finished; a slow poll covers an event missed while reconnecting.
  useEffect(() => {
    if (lastChange && lastChange.invocationId === pendingId && isFinal(lastChange.status)) setNudge((n) => n + 1);
  }, [lastChange]);
  useEffect(() => {
    if (!pendingId) return;
    const abort = new AbortController();
    const check = () =>
      api.invocation(pendingId, abort.signal).then(
        (record) => {
          if (isFinal(record.status)) setOutcome({ kind: "record", record });
          else setOutcome((o) => (o?.kind === "pending" && o.status !== record.status ? { ...o, status: record.status } : o));
        },
        (err: unknown) => {
          if (!abort.signal.aborted && !(err instanceof ApiError && err.code === "NOT_FOUND")) setOutcome({ kind: "error", error: err as ApiError });
        },
      );
    if (nudge > 0) void check();
    const timer = setInterval(() => void check(), RECORD_POLL_MS);
    return () => {
      clearInterval(timer);
      abort.abort();
    };
  }, [pendingId, nudge]);

  async function invoke() {
    if (problem || busy) return;
    setBusy(true);
    try {
      // "v:3" runs version 3, "a:prod" the alias prod, "" the latest.
      const [kind, target] = version.split(":");
      const answer = await api.invoke(name, event, {
        async: mode === "async",
        version: kind === "v" ? Number(target) : undefined,
        alias: kind === "a" ? target : undefined,
      });
      setOutcome(answer.kind === "result" ? { kind: "result", result: answer.result } : { kind: "pending", ...answer.accepted });
    } catch (err) {
      setOutcome({ kind: "error", error: err instanceof ApiError ? err : new ApiError("CLIENT_ERROR", String(err), 0) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="card invoke" aria-labelledby="invoke-heading">
      <h2 id="invoke-heading">Invoke</h2>
      <div class="field">
        <label for="event">Event</label>
        <textarea
          id="event"
          class="code"
          rows={6}
          spellcheck={false}
          value={event}
          aria-invalid={problem ? true : undefined}
          aria-describedby={problem ? "event-error" : undefined}
          onInput={(e) => setEvent(e.currentTarget.value)}
          onKeyDown={(e) => {
            if ((e.ctrlKey || e.metaKey) && e.key === "Enter") void invoke();
          }}
        />
        {problem ? (
          <p class="field-error" id="event-error" role="alert">
            <code>INVALID_JSON</code> {problem}
          </p>
        ) : (
          <p class="hint">JSON; Ctrl+Enter invokes.</p>
        )}
      </div>
      <div class="invoke-options">
        <fieldset class="segmented" aria-label="Mode">
          <label>
            <input type="radio" name="mode" value="sync" checked={mode === "sync"} onChange={() => setMode("sync")} /> Sync
          </label>
          <label>
            <input type="radio" name="mode" value="async" checked={mode === "async"} onChange={() => setMode("async")} /> Async
          </label>
        </fieldset>
        <span class="inline">
          <label for="invoke-version">Version</label>
          <select id="invoke-version" value={version} onChange={(e) => setVersion(e.currentTarget.value)}>
            <option value="">latest</option>
            <optgroup label="Versions">
              {versions.map((v) => (
                <option value={`v:${v}`} key={v}>
                  {v}
                </option>
              ))}
            </optgroup>
            {aliases.length > 0 && (
              <optgroup label="Aliases">
                {aliases.map((a) => (
                  <option value={`a:${a}`} key={a}>
                    {a}
                  </option>
                ))}
              </optgroup>
            )}
          </select>
        </span>
        <button type="button" class="primary" onClick={() => void invoke()} disabled={busy || problem !== undefined}>
          Invoke
        </button>
        <button type="button" onClick={() => !problem && setEvent(JSON.stringify(JSON.parse(event), null, 2))} disabled={problem !== undefined}>
          Format
        </button>
      </div>
      <section class="result-region" aria-label="Result" aria-live="polite" aria-busy={busy}>
        {!outcome && <p class="muted small">{busy ? "Running…" : "The result appears here."}</p>}
        {outcome?.kind === "result" && <ResultView r={outcome.result} />}
        {outcome?.kind === "record" && <ResultView r={outcome.record} />}
        {outcome?.kind === "pending" && (
          <p>
            <StatusBadge status={outcome.status} /> Invocation{" "}
            <Link href={`/invocations/${encodeURIComponent(outcome.invocationId)}`} class="mono">
              {outcome.invocationId}
            </Link>{" "}
            is {outcome.status}; its result appears here when it finishes.
          </p>
        )}
        {outcome?.kind === "error" && <FieldError id="invoke-error" error={outcome.error} />}
      </section>
    </section>
  );
}

function jsonProblem(text: string): string | undefined {
  if (text.trim() === "") return "the event is empty; send {} for none";
  try {
    JSON.parse(text);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
