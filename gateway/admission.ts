// How many synchronous calls the gateway admits at once: at most what the fabric's slots can use, and less while the
// gateway itself cannot keep up with what arrives.
//
// The slots bound alone (two calls per running slot) keeps a closed loop of clients queued at the agents, never shed.
// Under open-loop overload it is not enough on a machine the gateway shares with the work: the admitted calls use the
// cores, the gateway gets too little of them to read and refuse the rest, and requests wait in the kernel's queues
// before the gateway sees them, so the refusals come seconds late and the admitted calls wait as long. The sign is the
// gateway's event loop never idling (its utilisation near 1) while it sheds: then the bound shrinks, the admitted
// calls leave the gateway CPU to refuse the rest at once; the bound grows back while the loop has room, and is the
// whole slots bound again as soon as nothing is shed. A gateway that is busy but sheds nothing keeps the whole slots
// bound: nobody is waiting to be refused, and a closed loop of clients is served, not turned away.
import { performance, type EventLoopUtilization } from "node:perf_hooks";

export interface AdmissionOptions {
  /** The running slots of the live agents, or undefined when no agent is known. */
  slots: () => number | undefined;
  /** WEFT_MAX_INFLIGHT: the bound never exceeds it. */
  maxInflight: number;
  /** Adapt to the gateway's saturation (WEFT_ADAPTIVE_ADMISSION); off: the slots bound alone. */
  adaptive: boolean;
}

/**
 * Sync calls admitted per running slot: the one it runs and one queued behind it, so a slot never idles between a
 * call's end and the next one's arrival (64 clients on 32 slots are all served), while a call past that could only
 * wait behind more than one call's time of work, and is shed at once instead.
 */
const SYNC_CALLS_PER_SLOT = 2;
/** The bound never drops below this, however few slots the agents report (a small fabric still takes a burst). */
export const MIN_SYNC_BOUND = 8;

/** The slots bound: two calls per running slot, at least MIN_SYNC_BOUND, at most WEFT_MAX_INFLIGHT (also with no agent known). */
export function slotsBound(slots: number | undefined, maxInflight: number): number {
  return slots === undefined ? maxInflight : Math.min(maxInflight, Math.max(MIN_SYNC_BOUND, slots * SYNC_CALLS_PER_SLOT));
}

/** Length of one look at the event loop. */
export const ADMISSION_WINDOW_MS = 100;
/** A loop this busy over a window, while calls are shed, is saturated: the bound shrinks; below it, it grows. */
const SATURATED = 0.9;
const SHRINK = 0.8;
const GROW = 0.1;

/** The bound's next value after a window: pure, so it is tested apart from any clock. */
export function nextBound(bound: number, window: { utilisation: number; shed: number; lateness?: number }, floor: number, ceiling: number): number {
  // Nothing shed: the bound did not bind, so it may as well be the ceiling (a burst that follows is met whole).
  if (window.shed === 0) return ceiling;
  // A saturated loop runs its timer late, and the backlog grew all the while: a window k times its length shrinks
  // the bound as k windows would (at most MAX_LATE_WINDOWS), so the response does not slow as the overload deepens.
  const windows = Math.min(MAX_LATE_WINDOWS, Math.max(1, Math.floor(window.lateness ?? 1)));
  // Shedding on a loop with room: the bound grows back (it never holds, so it cannot stay pinned by its own refusals).
  const next = window.utilisation >= SATURATED ? Math.floor(bound * SHRINK ** windows) : bound + Math.max(1, Math.round(bound * GROW));
  return Math.min(ceiling, Math.max(Math.min(floor, ceiling), next));
}
const MAX_LATE_WINDOWS = 5;

export class SyncAdmission {
  /**
   * The adapted bound and the slots bound it was adapted under, or undefined while it does not bind (the last window
   * shed nothing). It binds only while the slots bound is still that one: when agents come or go, the bound is the
   * new slots bound at once and adapts from there, never a number left from the fabric as it was a window ago.
   */
  private adapted: { bound: number; ceiling: number } | undefined;
  private shed = 0;
  private last: EventLoopUtilization | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: AdmissionOptions) {}

  /** The most sync calls admitted now. */
  bound(): number {
    const ceiling = this.ceiling();
    return this.opts.adaptive ? (this.adaptedUnder(ceiling) ?? ceiling) : ceiling;
  }

  /** A sync call was refused for the bound. */
  noteShed(): void {
    this.shed++;
  }

  start(): void {
    if (!this.opts.adaptive || this.timer) return;
    this.last = performance.eventLoopUtilization();
    this.timer = setInterval(() => this.look(), ADMISSION_WINDOW_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private ceiling(): number {
    return slotsBound(this.opts.slots(), this.opts.maxInflight);
  }

  private adaptedUnder(ceiling: number): number | undefined {
    return this.adapted?.ceiling === ceiling ? this.adapted.bound : undefined;
  }

  private look(): void {
    const now = performance.eventLoopUtilization();
    const window = performance.eventLoopUtilization(now, this.last);
    this.last = now;
    const lateness = (window.idle + window.active) / ADMISSION_WINDOW_MS;
    const ceiling = this.ceiling();
    this.adapted =
      this.shed === 0
        ? undefined
        : { bound: nextBound(this.adaptedUnder(ceiling) ?? ceiling, { utilisation: window.utilization, shed: this.shed, lateness }, Math.min(MIN_SYNC_BOUND, this.opts.maxInflight), ceiling), ceiling };
    this.shed = 0;
  }
}
