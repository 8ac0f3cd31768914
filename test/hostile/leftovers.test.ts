// Nothing outlives its call: a handler starts work by every means its runtime offers and returns at once.
// After the answer, the function's container must spend no CPU, and the next call must see no trace of
// activity after that answer (timestamps in memory and in /tmp, LEAKED-WORK lines in its logs, live
// processes, a forged frame aimed at it). Issue 6 item 4.
import { describe } from "node:test";
import { BATCH, ISOLATIONS, hostileSuite, type Hostile, type Isolation, type Runtime } from "./suite.js";
import { LEAK_TIMEOUT_MS, assertNothingOutlivesTheCall } from "./leftover-check.js";
import { LEFTOVER_ATTACKS, leaker, type Leak } from "./leftover-attacks.js";

const suite = hostileSuite();

async function leftoverCase(h: Hostile, where: { runtime: Runtime; isolation: Isolation }, label: string, leak: string, extra: Pick<Leak, "spec" | "pre"> = {}): Promise<void> {
  const name = h.name(`leak-${label}`);
  // Not the stem cells' 256 MB: on gVisor no stem cell fits (they cannot be resized), so the container is
  // labelled with the function.
  await h.deploy(name, { ...where, code: leaker(where.runtime, leak, extra.pre), limits: { memoryMb: 192, timeoutMs: LEAK_TIMEOUT_MS }, ...extra.spec });
  await assertNothingOutlivesTheCall(h, name, { start: true });
}

describe("work left behind", { concurrency: BATCH }, () => {
  suite.baselines();
  for (const isolation of ISOLATIONS) {
    for (const c of LEFTOVER_ATTACKS) {
      for (const runtime of ["python3", "nodejs"] as const) {
        const leak = runtime === "python3" ? c.leak.py : c.leak.js;
        if (!leak) continue;
        suite.case(c.attack, { runtime, isolation }, (h) => leftoverCase(h, { runtime, isolation }, c.label, leak, c.leak));
      }
    }
  }
});

suite.finally();
