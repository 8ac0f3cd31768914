// Waiting for state that arrives through an asynchronous pipeline with no completion event to await
// (records → JetStream → controller → MongoDB; heartbeats): poll, with a deadline that fails the test.

/** Resolves with the first value `probe` returns that is not undefined. */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Resolves once `probe` is true. */
export async function until(probe: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  await eventually(async () => ((await probe()) ? true : undefined), what, timeoutMs, 10);
}
