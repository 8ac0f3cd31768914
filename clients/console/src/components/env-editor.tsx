// Environment variables: name and value per row, values masked until "Reveal values" is pressed.
import { useState } from "preact/hooks";
import type { EnvRow } from "../function-form.js";

export function EnvEditor({ rows, onChange, describedBy }: { rows: EnvRow[]; onChange: (rows: EnvRow[]) => void; describedBy?: string }) {
  const [revealed, setRevealed] = useState(false);
  const update = (i: number, patch: Partial<EnvRow>) => onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  return (
    <fieldset class="env" aria-describedby={describedBy}>
      <legend>Environment</legend>
      {rows.length === 0 && <p class="muted small">No variables.</p>}
      {rows.map((r, i) => (
        <div class="env-row" key={i}>
          <input aria-label={`Variable ${i + 1} name`} placeholder="NAME" value={r.key} spellcheck={false} onInput={(e) => update(i, { key: e.currentTarget.value })} />
          {revealed ? (
            <input aria-label={`Variable ${i + 1} value`} placeholder="value" type="text" autoComplete="off" value={r.value} onInput={(e) => update(i, { value: e.currentTarget.value })} />
          ) : (
            <input aria-label={`Variable ${i + 1} value`} placeholder="value" type="password" autoComplete="off" value={r.value} onInput={(e) => update(i, { value: e.currentTarget.value })} />
          )}
          <button type="button" class="link" aria-label={`Remove variable ${i + 1}`} onClick={() => onChange(rows.filter((_, j) => j !== i))}>
            Remove
          </button>
        </div>
      ))}
      <div class="env-actions">
        <button type="button" onClick={() => onChange([...rows, { key: "", value: "" }])}>
          Add variable
        </button>
        {rows.length > 0 && (
          <button type="button" aria-pressed={revealed} onClick={() => setRevealed(!revealed)}>
            {revealed ? "Hide values" : "Reveal values"}
          </button>
        )}
      </div>
    </fieldset>
  );
}
