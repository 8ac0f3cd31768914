// One function: its code in a real editor (Deploy, or Ctrl+S, makes a new version), its settings, the invoke
// panel, its versions (diff, roll back), its metrics and its invocations as they happen.
import { useEffect, useState } from "preact/hooks";
import { ApiError, api, type FunctionDefinition, type InvocationChange } from "../api.js";
import { CodeEditor } from "../components/code-editor.js";
import { ConfirmDialog } from "../components/confirm.js";
import { FieldError, errorFor } from "../components/field.js";
import { InvocationsTable, type Row } from "../components/invocations-table.js";
import { Link } from "../components/link.js";
import { MetricsPanel } from "../components/metrics-panel.js";
import { PLACED_FIELDS, SettingsFields, unplacedError } from "../components/settings-fields.js";
import { useData } from "../data.js";
import { time } from "../format.js";
import { differs, formOf, specOf, switchRuntime, type FunctionForm } from "../function-form.js";
import { isFinal, overlay, useInvocationStream, useLiveChanges } from "../live.js";
import { navigate, useLocation } from "../router.js";
import { InvokePanel } from "./invoke-panel.js";
import { VersionsPanel } from "./versions-panel.js";

const RECENT = 10;

export function FunctionPage({ name }: { name: string }) {
  const loc = useLocation();
  const def = useData((s) => api.getFunction(name, undefined, s), [name]);
  const versions = useData((s) => api.versions(name, s), [name]);
  const aliases = useData((s) => api.aliases(name, s), [name]);
  const [form, setForm] = useState<FunctionForm | undefined>();
  const [error, setError] = useState<ApiError | undefined>();
  const [notice, setNotice] = useState<string | undefined>(() => {
    const v = loc.query.get("deployed");
    return v ? `Created ${name}: version ${v} is deployed.` : undefined;
  });
  const [busy, setBusy] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [lastChange, setLastChange] = useState<InvocationChange | undefined>();
  const [finished, setFinished] = useState(0);
  const recent = useData((s) => api.history({ function: name, limit: RECENT }, s), [name]);
  const live = useLiveChanges(name, RECENT);

  useInvocationStream(
    { function: name },
    {
      change: (c) => {
        setLastChange(c);
        if (isFinal(c.status)) setFinished((n) => n + 1);
        live.add(c);
      },
      lagged: recent.reload,
    },
  );

  // The form starts from the deployed version, and again after each deploy.
  useEffect(() => {
    if (def.data && (!form || form.name !== def.data.name)) setForm(formOf(def.data));
  }, [def.data]);

  useEffect(() => {
    if (loc.query.has("deployed")) navigate(`/functions/${encodeURIComponent(name)}`, { replace: true });
  }, []);

  async function deploy() {
    if (!form || busy) return;
    setBusy(true);
    setError(undefined);
    try {
      const deployed = await api.putFunction(name, specOf(form));
      await afterDeploy(`Deployed version ${deployed.version}.`);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError("CLIENT_ERROR", String(err), 0));
    } finally {
      setBusy(false);
    }
  }

  async function afterDeploy(message: string) {
    const fresh = await api.getFunction(name);
    def.set(() => fresh);
    setForm(formOf(fresh));
    versions.reload();
    setNotice(message);
  }

  if (def.error?.code === "NOT_FOUND") {
    return (
      <section class="card">
        <h1>{name}</h1>
        <p>
          There is no function called <strong>{name}</strong>. <Link href="/functions">Back to the functions</Link>.
        </p>
      </section>
    );
  }
  if (!def.data || !form) {
    return <p class="muted">{def.error ? `${def.error.code}: ${def.error.message}` : "Loading…"}</p>;
  }
  const d: FunctionDefinition = def.data;
  const dirty = differs(form, d);
  const codeError = errorFor(error, "code");
  const other = unplacedError(error, PLACED_FIELDS);
  const patch = (p: Partial<FunctionForm>) => setForm((f) => f && { ...f, ...p });

  return (
    <>
      <div class="page-head">
        <div>
          <p class="crumbs">
            <Link href="/functions">Functions</Link> /
          </p>
          <h1>{name}</h1>
          <p class="muted small">
            {d.runtime} · {d.isolation} · version {d.version} · deployed {time(d.createdAt)}
            {d.description && ` · ${d.description}`}
          </p>
        </div>
        <div class="page-actions">
          <button type="button" class="danger" onClick={() => setDeleting(true)}>
            Delete
          </button>
        </div>
      </div>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <div class="split">
        <section class="card code-card" aria-labelledby="code-heading">
          <div class="card-head">
            <h2 id="code-heading">Code</h2>
            <span class="muted small">{dirty ? "Changed: not deployed yet" : `Version ${d.version}`}</span>
          </div>
          <CodeEditor
            value={form.code}
            language={form.runtime}
            label="Code"
            invalid={codeError !== undefined}
            describedBy={codeError ? "fn-code-error" : undefined}
            onChange={(code) => patch({ code })}
            onSave={() => void deploy()}
          />
          <FieldError id="fn-code-error" error={codeError} />
          <details class="settings" open={errorFor(error, ...PLACED_FIELDS.filter((f) => f !== "code" && f !== "name")) !== undefined || undefined}>
            <summary>Settings</summary>
            <SettingsFields form={form} error={error} onChange={patch} onRuntime={(r) => setForm((f) => f && switchRuntime(f, r))} />
          </details>
          <div class="form-actions">
            <button type="button" class="primary" onClick={() => void deploy()} disabled={busy}>
              Deploy
            </button>
            <button type="button" onClick={() => (setForm(formOf(d)), setError(undefined))} disabled={!dirty || busy}>
              Discard changes
            </button>
            <span class="muted small">Ctrl+S in the editor deploys.</span>
            <FieldError id="fn-form-error" error={other} />
          </div>
        </section>
        <InvokePanel
          name={name}
          versions={(versions.data?.versions ?? []).map((v) => v.version)}
          aliases={(aliases.data?.aliases ?? []).map((a) => a.name)}
          lastChange={lastChange}
        />
      </div>
      <VersionsPanel name={name} current={d} versions={versions.data} onDeployed={(m) => void afterDeploy(m)} />
      <MetricsPanel name={name} nudge={finished} />
      <section class="card flush" aria-labelledby="recent-heading">
        <div class="card-head pad">
          <h2 id="recent-heading">Recent invocations</h2>
          <Link href={`/invocations?function=${encodeURIComponent(name)}`}>All invocations of {name}</Link>
        </div>
        <InvocationsTable rows={overlay((recent.data?.invocations ?? []) as Row[], live.changes, RECENT)} showFunction={false} empty="No invocations yet: invoke it above, or over HTTP, gRPC or NATS." />
      </section>
      <ConfirmDialog
        open={deleting}
        title={`Delete ${name}?`}
        confirmLabel="Delete"
        danger
        onCancel={() => setDeleting(false)}
        onConfirm={() =>
          void api.deleteFunction(name).then(
            () => navigate("/functions"),
            (err: unknown) => (setDeleting(false), setError(err as ApiError)),
          )
        }
      >
        <p>New invocations are refused at once; running ones finish. Its records stay readable.</p>
      </ConfirmDialog>
    </>
  );
}
