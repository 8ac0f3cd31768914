// The outcomes the hostile cases accept, stated once: what a forgery may end as, what "the next call still
// works" means, and the depth walk for nested outputs.
import assert from "node:assert/strict";
import type { InvocationResult } from "../../shared/schemas/invocation.js";
import { FORGED, describeResult, type Hostile } from "./suite.js";

/** The error code a malformed or forged frame ends its call with (issue 6). */
export const RUNTIME_PROTOCOL_ERROR = "RUNTIME_PROTOCOL_ERROR";
/** The error code of an output nested deeper than LIMITS.jsonDepth (issue 6). */
export const OUTPUT_TOO_DEEP = "OUTPUT_TOO_DEEP";
/** The documented nesting limit for events and outputs (issue 6: 1,000 levels must run). */
export const JSON_DEPTH = 1000;

/**
 * A forging call either ran as its handler meant (status ok, output marked genuine) or was ended by the
 * platform as a protocol violation (killed, RUNTIME_PROTOCOL_ERROR). Its output never carries the forgery.
 */
export function assertNotForged(r: InvocationResult, what = "the forging call"): void {
  assert.ok(!JSON.stringify(r.output ?? null).includes(FORGED), `${what}: a forged frame was accepted: ${describeResult(r)}`);
  if (r.status === "killed") {
    assert.equal(r.error?.code, RUNTIME_PROTOCOL_ERROR, `${what}: ${describeResult(r)}`);
    return;
  }
  assert.equal(r.status, "ok", `${what}: ${describeResult(r)}`);
  assert.equal((r.output as { genuine?: unknown } | null)?.genuine, true, `${what}: ${describeResult(r)}`);
}

/** The function's next call is answered with its genuine output, well within its normal time. */
export async function assertNextCallGenuine(h: Hostile, name: string, what = "the next call"): Promise<InvocationResult> {
  const r = await h.settled(await h.invoke(name, { probe: true }), ["ok"], what);
  assert.equal((r.output as { genuine?: unknown } | null)?.genuine, true, `${what}: ${describeResult(r)}`);
  assert.ok(r.durationMs < 2000, `${what} took ${r.durationMs} ms`);
  return r;
}

/** Depth of nested arrays/objects, walked without recursion (a 5,000-deep value must not overflow the test). */
export function depthOf(value: unknown): number {
  let depth = 0;
  let level: unknown[] = [value];
  while (level.length > 0) {
    const next: unknown[] = [];
    for (const v of level) if (v !== null && typeof v === "object") next.push(...Object.values(v as object));
    if (next.length === 0 && !level.some((v) => v !== null && typeof v === "object")) break;
    depth++;
    level = next;
  }
  return depth;
}

/** A JSON text nested `depth` arrays deep, written without building the value. */
export const nestedJson = (depth: number, leaf = "0"): string => "[".repeat(depth) + leaf + "]".repeat(depth);
