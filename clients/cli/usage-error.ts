// A command used wrongly (a bad flag value, a missing file): exit code 2, like a usage error of the parser.
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The call failed for a reason that is not an API error (an invocation that ended in error): exit code 1. */
export class CallFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CallFailed";
  }
}
