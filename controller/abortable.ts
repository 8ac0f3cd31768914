// Waiting on a dependency that may be down without holding up a stop().

/**
 * Resolves with `work`, or with undefined as soon as `signal` aborts. NATS requests made while the server is
 * away wait out their timeouts; a stopping component must not. The abandoned work ends on its own once the
 * connections close, and its failure is handled here (never unhandled).
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    work.then(resolve, reject);
    if (signal.aborted) resolve(undefined);
    else signal.addEventListener("abort", () => resolve(undefined), { once: true });
  });
}
