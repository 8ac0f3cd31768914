// The pieces every result view is made of: a labelled fact, the link to an invocation's record and the error box.
// The function result (result-view.tsx) and the playground's execution result share them.
import type { ComponentChildren } from "preact";
import { Link } from "./link.js";

export function Fact({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

export function InvocationLink({ id, short = false }: { id: string; short?: boolean }) {
  return (
    <Link href={`/invocations/${encodeURIComponent(id)}`} class="mono">
      {short ? id.slice(0, 8) : id}
    </Link>
  );
}

export function ErrorBox({ error }: { error: { code: string; message: string; type?: string | undefined; stack?: string | undefined } }) {
  return (
    <div class="error-box">
      <strong>{error.code}</strong>
      {error.type && <span> ({error.type})</span>}: {error.message}
      {error.stack && <pre class="code small">{error.stack}</pre>}
    </div>
  );
}
