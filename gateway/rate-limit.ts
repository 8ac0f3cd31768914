// A token bucket per client address: `ratePerSec` requests a second on average, bursts of `burst`. Buckets of
// clients that went quiet are dropped, so memory follows the number of recent clients, not all clients ever seen.
import { WeftError } from "../shared/errors.js";

export interface RateLimitOptions {
  ratePerSec: number;
  burst: number;
  /** At most this many buckets are kept; past it the longest-idle ones go (a full bucket is all they held). */
  maxClients?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Refused by the rate limit: 429 RESOURCE_EXHAUSTED with Retry-After (whole seconds) over HTTP. */
export class RateLimited extends WeftError {
  constructor(readonly retryAfterS: number) {
    super("RESOURCE_EXHAUSTED", `too many ad-hoc executions from this client; retry in ${retryAfterS} s`);
  }
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly maxClients: number;

  constructor(private readonly opts: RateLimitOptions) {
    this.maxClients = opts.maxClients ?? 10_000;
  }

  /** Takes one token for `client`, or throws RateLimited saying when one will be there. */
  take(client: string, now = Date.now()): void {
    const b = this.refilled(client, now);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return;
    }
    throw new RateLimited(Math.max(1, Math.ceil((1 - b.tokens) / this.opts.ratePerSec)));
  }

  private refilled(client: string, now: number): Bucket {
    let b = this.buckets.get(client);
    if (b) {
      this.buckets.delete(client); // re-inserted below: the map stays in least-recently-used order
      b.tokens = Math.min(this.opts.burst, b.tokens + ((now - b.at) / 1000) * this.opts.ratePerSec);
      b.at = now;
    } else {
      b = { tokens: this.opts.burst, at: now };
    }
    this.buckets.set(client, b);
    if (this.buckets.size > this.maxClients) this.buckets.delete(this.buckets.keys().next().value!);
    return b;
  }
}
