// Waiting on a dependency that may be down without holding up a stop().

/**
 * Resolves with `work`, or with undefined as soon as `signal` aborts. NATS requests made while the server is
 * away wait out their timeouts; a stopping component must not. The abandoned work ends on its own once the
 * connections close, and its failure is handled here (never unhandled). The abort listener is removed once
 * the work settles: the signal lives as long as the component, and one listener per fetch would pile up.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.resolve(undefined);
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}
