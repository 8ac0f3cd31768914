// A confirmation dialog (the native <dialog>: focus is trapped and Escape cancels).
import { useEffect, useRef } from "preact/hooks";
import type { ComponentChildren } from "preact";

interface Props {
  open: boolean;
  title: string;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  children: ComponentChildren;
  onConfirm: () => void;
  onCancel: () => void;
}

export function ConfirmDialog(p: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (p.open && !d.open) d.showModal();
    if (!p.open && d.open) d.close();
  }, [p.open]);
  return (
    <dialog ref={ref} aria-label={p.title} onCancel={(e) => (e.preventDefault(), p.onCancel())} class="dialog">
      <h2>{p.title}</h2>
      <div>{p.children}</div>
      <div class="actions">
        <button type="button" onClick={p.onCancel}>
          Cancel
        </button>
        <button type="button" class={p.danger ? "danger" : "primary"} onClick={p.onConfirm} disabled={p.busy}>
          {p.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
