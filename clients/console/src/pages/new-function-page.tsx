// "New function": name, runtime, isolation, limits, environment and code (a template per runtime), deployed
// with "Deploy"; the API's errors appear next to the field they name.
import { useState } from "preact/hooks";
import { ApiError, api } from "../api.js";
import { CodeEditor } from "../components/code-editor.js";
import { Field, FieldError, describedBy, errorFor } from "../components/field.js";
import { Link } from "../components/link.js";
import { PLACED_FIELDS, SettingsFields, unplacedError } from "../components/settings-fields.js";
import { newForm, specOf, switchRuntime, type FunctionForm } from "../function-form.js";
import { navigate } from "../router.js";

export function NewFunctionPage() {
  const [form, setForm] = useState<FunctionForm>(() => newForm());
  const [error, setError] = useState<ApiError | undefined>();
  const [busy, setBusy] = useState(false);
  const patch = (p: Partial<FunctionForm>) => setForm((f) => ({ ...f, ...p }));

  async function deploy() {
    if (busy) return;
    const name = form.name.trim();
    if (name === "") {
      setError(new ApiError("INVALID_ARGUMENT", "name: is required", 0, "name"));
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const created = await api.putFunction(name, specOf(form));
      navigate(`/functions/${encodeURIComponent(created.name)}?deployed=${created.version}`);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError("CLIENT_ERROR", String(err), 0));
    } finally {
      setBusy(false);
    }
  }

  const nameError = errorFor(error, "name");
  const codeError = errorFor(error, "code");
  const other = unplacedError(error, PLACED_FIELDS);
  return (
    <>
      <div class="page-head">
        <div>
          <p class="crumbs">
            <Link href="/functions">Functions</Link> /
          </p>
          <h1>New function</h1>
        </div>
      </div>
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault();
          void deploy();
        }}
      >
        <section class="card">
          <div class="form-grid">
            <Field id="fn-name" label="Name" hint="lower case letters, digits and dashes; starts with a letter" error={nameError} wide>
              <input
                id="fn-name"
                value={form.name}
                autoComplete="off"
                spellcheck={false}
                aria-invalid={nameError ? true : undefined}
                aria-describedby={describedBy("fn-name", nameError, "hint")}
                onInput={(e) => patch({ name: e.currentTarget.value })}
              />
            </Field>
          </div>
          <SettingsFields form={form} error={error} onChange={patch} onRuntime={(r) => setForm((f) => switchRuntime(f, r))} />
        </section>
        <section class="card">
          <h2 id="code-heading">Code</h2>
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
        </section>
        <div class="form-actions">
          <button type="submit" class="primary" disabled={busy}>
            Deploy
          </button>
          <span class="muted small">Ctrl+S in the editor deploys too.</span>
          <FieldError id="fn-form-error" error={other} />
        </div>
      </form>
    </>
  );
}
