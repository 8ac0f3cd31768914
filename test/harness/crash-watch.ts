// Watches the test process for uncaught exceptions and unhandled rejections. The fabric runs in-process, so
// an error that escapes the agent, gateway or controller lands here: a test can then say "nothing escaped
// since I last looked" instead of learning it from a dead process.
export interface Escaped {
  kind: "uncaughtException" | "unhandledRejection";
  error: unknown;
  at: number;
}

export class CrashWatch {
  private readonly seen: Escaped[] = [];
  private readonly onException = (error: unknown) => this.seen.push({ kind: "uncaughtException", error, at: Date.now() });
  private readonly onRejection = (error: unknown) => this.seen.push({ kind: "unhandledRejection", error, at: Date.now() });

  start(): this {
    process.on("uncaughtException", this.onException);
    process.on("unhandledRejection", this.onRejection);
    return this;
  }

  stop(): void {
    process.off("uncaughtException", this.onException);
    process.off("unhandledRejection", this.onRejection);
  }

  /** How many have escaped so far: pass it to `since` later. */
  get mark(): number {
    return this.seen.length;
  }

  since(mark: number): Escaped[] {
    return this.seen.slice(mark);
  }

  /** A readable line per escaped error, with the top of its stack (where it was thrown names the culprit). */
  static describe(escaped: readonly Escaped[]): string {
    return escaped
      .map((e) => {
        const err = e.error as { stack?: string; message?: string } | undefined;
        const text = err?.stack ?? err?.message ?? String(e.error);
        return `${e.kind}: ${text.split("\n").slice(0, 6).join(" | ")}`;
      })
      .join("\n");
  }
}
