// A labelled form field with the API's error shown next to it (code and message), wired for screen readers.
import type { ComponentChildren } from "preact";
import type { ApiError } from "../api.js";

export interface FieldErrorProps {
  id: string;
  error: ApiError | undefined;
}

export function FieldError({ id, error }: FieldErrorProps) {
  if (!error) return null;
  return (
    <p class="field-error" id={id} role="alert">
      <code>{error.code}</code> {error.message}
    </p>
  );
}

interface FieldProps {
  id: string;
  label: string;
  hint?: string;
  error?: ApiError | undefined;
  children: ComponentChildren;
  wide?: boolean;
}

/** `children` is the control; give it id={id} and aria-describedby={describedBy(id, error)}. */
export function Field({ id, label, hint, error, children, wide }: FieldProps) {
  return (
    <div class={`field${wide ? " wide" : ""}${error ? " has-error" : ""}`}>
      <label for={id}>{label}</label>
      {children}
      {hint && !error && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      <FieldError id={`${id}-error`} error={error} />
    </div>
  );
}

export const describedBy = (id: string, error: ApiError | undefined, hint?: string): string | undefined =>
  error ? `${id}-error` : hint ? `${id}-hint` : undefined;

/** The error that belongs to `field` (the API names it: "name", "limits.timeoutMs", "env.FOO"). */
export function errorFor(error: ApiError | undefined, ...fields: string[]): ApiError | undefined {
  if (!error?.field) return undefined;
  return fields.some((f) => error.field === f || error.field!.startsWith(`${f}.`)) ? error : undefined;
}
