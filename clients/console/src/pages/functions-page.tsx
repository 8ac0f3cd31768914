// Every function with its activity in the last hour, a search box, "New function", and delete with
// confirmation; the fabric's metrics above.
import { useMemo, useState } from "preact/hooks";
import { api, type ApiError, type FunctionSummary } from "../api.js";
import { ConfirmDialog } from "../components/confirm.js";
import { Link } from "../components/link.js";
import { MetricsPanel } from "../components/metrics-panel.js";
import { useData } from "../data.js";
import { ago, count, ms } from "../format.js";
import { navigate } from "../router.js";

const HOUR_MS = 3600_000;
const REFRESH_MS = 10_000;
/** The last hour's activity is read from its records: less often than the list. */
const ACTIVITY_REFRESH_MS = 30_000;

export function FunctionsPage() {
  const functions = useData((s) => api.listFunctions(s), [], { everyMs: REFRESH_MS });
  const activity = useData((s) => api.fabricMetrics(HOUR_MS, s), [], { everyMs: ACTIVITY_REFRESH_MS });
  const [search, setSearch] = useState("");
  const [deleting, setDeleting] = useState<string | undefined>();
  const [deleteError, setDeleteError] = useState<ApiError | undefined>();
  const [busy, setBusy] = useState(false);

  const byName = useMemo(() => new Map((activity.data?.functions ?? []).map((f) => [f.functionName, f])), [activity.data]);
  const list = (functions.data?.functions ?? []).filter((f) => f.name.includes(search.trim().toLowerCase()));

  async function confirmDelete() {
    if (!deleting) return;
    setBusy(true);
    try {
      await api.deleteFunction(deleting);
      setDeleting(undefined);
      setDeleteError(undefined);
      functions.set((d) => d && { functions: d.functions.filter((f) => f.name !== deleting) });
    } catch (err) {
      setDeleteError(err as ApiError);
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <div class="page-head">
        <h1>Functions</h1>
        <div class="page-actions">
          <input
            type="search"
            aria-label="Search functions"
            placeholder="Search functions"
            value={search}
            onInput={(e) => setSearch(e.currentTarget.value)}
          />
          <button type="button" class="primary" onClick={() => navigate("/functions/new")}>
            New function
          </button>
        </div>
      </div>
      {functions.error && <p class="error-text" role="alert">{functions.error.code}: {functions.error.message}</p>}
      <section class="card flush">
        <div class="table-wrap">
          <table aria-label="Functions">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Runtime</th>
                <th scope="col">Isolation</th>
                <th scope="col" class="num">Version</th>
                <th scope="col" class="num">Calls (1 h)</th>
                <th scope="col" class="num">Errors (1 h)</th>
                <th scope="col" class="num">p50</th>
                <th scope="col" class="num">p99</th>
                <th scope="col">Last invoked</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {functions.data && list.length === 0 && (
                <tr>
                  <td colSpan={10} class="muted empty">
                    {search ? `No function matches “${search}”.` : "No functions yet. Create one with “New function”."}
                  </td>
                </tr>
              )}
              {list.map((f) => (
                <FunctionRow key={f.name} f={f} a={byName.get(f.name)} onDelete={() => (setDeleteError(undefined), setDeleting(f.name))} />
              ))}
            </tbody>
          </table>
        </div>
        {!functions.data && !functions.error && <p class="muted pad">Loading…</p>}
      </section>
      <MetricsPanel />
      <ConfirmDialog
        open={deleting !== undefined}
        title={`Delete ${deleting ?? ""}?`}
        confirmLabel="Delete"
        danger
        busy={busy}
        onCancel={() => setDeleting(undefined)}
        onConfirm={() => void confirmDelete()}
      >
        <p>
          New invocations of <strong>{deleting}</strong> are refused at once; running ones finish. Its records stay readable.
        </p>
        {deleteError && <p class="field-error" role="alert"><code>{deleteError.code}</code> {deleteError.message}</p>}
      </ConfirmDialog>
    </>
  );
}

function FunctionRow({ f, a, onDelete }: { f: FunctionSummary; a: { count: number; failed: number; p50: number | null; p99: number | null; lastInvokedAt: string | null } | undefined; onDelete: () => void }) {
  return (
    <tr>
      <th scope="row">
        <Link href={`/functions/${encodeURIComponent(f.name)}`}>{f.name}</Link>
        {f.description && <div class="muted small">{f.description}</div>}
      </th>
      <td>{f.runtime}</td>
      <td>{f.isolation}</td>
      <td class="num">{f.version}</td>
      <td class="num">{count(a?.count ?? 0)}</td>
      <td class={`num${a && a.failed > 0 ? " error-text" : ""}`}>{count(a?.failed ?? 0)}</td>
      <td class="num">{ms(a?.p50)}</td>
      <td class="num">{ms(a?.p99)}</td>
      <td>{a?.lastInvokedAt ? ago(a.lastInvokedAt) : <span class="muted">not in the last hour</span>}</td>
      <td class="actions-cell">
        <button type="button" class="link danger" onClick={onDelete} aria-label={`Delete ${f.name}`}>
          Delete
        </button>
      </td>
    </tr>
  );
}
