// The fields of a function's settings: runtime, isolation, limits, concurrency, warm containers,
// description and environment, each with the API's error for it beside it.
import type { ApiError } from "../api.js";
import type { FunctionForm } from "../function-form.js";
import { ISOLATIONS, ISOLATION_LABELS, RUNTIMES, RUNTIME_LABELS, type Isolation, type Runtime } from "../templates.js";
import { EnvEditor } from "./env-editor.js";
import { Field, FieldError, describedBy, errorFor } from "./field.js";

interface Props {
  form: FunctionForm;
  error: ApiError | undefined;
  onChange: (patch: Partial<FunctionForm>) => void;
  onRuntime: (runtime: Runtime) => void;
}

export function SettingsFields({ form, error, onChange, onRuntime }: Props) {
  const e = (...fields: string[]) => errorFor(error, ...fields);
  const numberField = (id: string, label: string, key: "timeoutMs" | "memoryMb" | "cpus" | "concurrency" | "minWarm", field: string, hint: string) => (
    <Field id={id} label={label} hint={hint} error={e(field)}>
      <input
        id={id}
        inputMode="decimal"
        value={form[key]}
        aria-invalid={e(field) ? true : undefined}
        aria-describedby={describedBy(id, e(field), hint)}
        onInput={(ev) => onChange({ [key]: ev.currentTarget.value })}
      />
    </Field>
  );
  return (
    <div class="form-grid">
      <Field id="fn-runtime" label="Runtime" error={e("runtime")}>
        <select
          id="fn-runtime"
          value={form.runtime}
          aria-invalid={e("runtime") ? true : undefined}
          aria-describedby={describedBy("fn-runtime", e("runtime"))}
          onChange={(ev) => onRuntime(ev.currentTarget.value as Runtime)}
        >
          {RUNTIMES.map((r) => (
            <option value={r} key={r}>
              {RUNTIME_LABELS[r]}
            </option>
          ))}
        </select>
      </Field>
      <Field id="fn-isolation" label="Isolation" error={e("isolation")}>
        <select
          id="fn-isolation"
          value={form.isolation}
          aria-invalid={e("isolation") ? true : undefined}
          aria-describedby={describedBy("fn-isolation", e("isolation"))}
          onChange={(ev) => onChange({ isolation: ev.currentTarget.value as Isolation })}
        >
          {ISOLATIONS.map((i) => (
            <option value={i} key={i}>
              {ISOLATION_LABELS[i]}
            </option>
          ))}
        </select>
      </Field>
      {numberField("fn-timeout", "Timeout (ms)", "timeoutMs", "limits.timeoutMs", "100 … 900000")}
      {numberField("fn-memory", "Memory (MB)", "memoryMb", "limits.memoryMb", "64 … 8192")}
      {numberField("fn-cpus", "CPUs", "cpus", "limits.cpus", "0.05 … 64; empty: no limit")}
      {numberField("fn-concurrency", "Concurrency", "concurrency", "concurrency", "calls one container runs at once")}
      {numberField("fn-min-warm", "Minimum warm", "minWarm", "minWarm", "containers kept warm")}
      <Field id="fn-description" label="Description" error={e("description")} wide>
        <input
          id="fn-description"
          value={form.description}
          aria-invalid={e("description") ? true : undefined}
          aria-describedby={describedBy("fn-description", e("description"))}
          onInput={(ev) => onChange({ description: ev.currentTarget.value })}
        />
      </Field>
      <div class="field wide">
        <EnvEditor rows={form.env} onChange={(env) => onChange({ env })} describedBy={e("env") ? "fn-env-error" : undefined} />
        <FieldError id="fn-env-error" error={e("env")} />
      </div>
    </div>
  );
}

/** The error that no field shows (the body as a whole, or a field this form does not have). */
export function unplacedError(error: ApiError | undefined, placed: string[]): ApiError | undefined {
  if (!error) return undefined;
  return errorFor(error, ...placed) ? undefined : error;
}

export const PLACED_FIELDS = ["name", "runtime", "isolation", "code", "limits.timeoutMs", "limits.memoryMb", "limits.cpus", "concurrency", "minWarm", "description", "env"];
