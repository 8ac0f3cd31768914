// An invocation's status as a badge, and a fabric-wide notice when the gateway is down or degraded.
import type { FabricState } from "../fabric-status.js";

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge status-${status}`}>{status}</span>;
}

export function FabricBanner({ state }: { state: FabricState }) {
  if (state.kind === "unreachable") {
    return (
      <div class="banner banner-down" role="alert">
        <strong>The fabric is unreachable.</strong> The gateway does not answer; this page reconnects by itself when it is back.
      </div>
    );
  }
  if (state.kind === "degraded") {
    return (
      <div class="banner banner-degraded" role="alert">
        <strong>The fabric is degraded:</strong> {state.missing.join("; ")}. Pages refresh by themselves when it recovers.
      </div>
    );
  }
  return null;
}
