// Policy of the ad-hoc execution pool (exec-pool.ts applies it): how many sandboxes to start per runtime × isolation,
// and whether a request can take a pre-started one. Plain logic, unit-tested without Docker.
import type { Isolation, Runtime } from "./docker-driver.js";

export interface ExecKind {
  runtime: Runtime;
  isolation: Isolation;
}

export const kindKey = (k: ExecKind): string => `${k.runtime}/${k.isolation}`;

/** Starts wanted now for one kind: up to the target, counting those ready and starting; none while backing off. */
export function execDeficit(k: { target: number; ready: number; starting: number; backoffUntil: number; now: number }): number {
  if (k.now < k.backoffUntil) return 0;
  return Math.max(0, k.target - k.ready - k.starting);
}

/** After `failures` start failures in a row, wait this long before trying again (none after a success). */
export function backoffMs(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(30_000, 500 * 2 ** (failures - 1));
}

/**
 * How a request gets its sandbox: a pre-started one as it is, a pre-started one resized (runc can change a running
 * container's memory), or a new one of the requested size (gVisor cannot, so a different size costs a start).
 */
export type Take = { kind: "pooled" } | { kind: "resize"; memoryMb: number } | { kind: "fresh"; memoryMb: number };

export function takeFor(isolation: Isolation, poolMemoryMb: number, wantedMemoryMb: number | undefined): Take {
  if (wantedMemoryMb === undefined || wantedMemoryMb === poolMemoryMb) return { kind: "pooled" };
  return isolation === "runc" ? { kind: "resize", memoryMb: wantedMemoryMb } : { kind: "fresh", memoryMb: wantedMemoryMb };
}
