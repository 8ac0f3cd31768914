// Writes to one function run one after another inside the controller: the MongoDB change and its mirror into
// the NATS bucket together, so a PUT's publish can never land after a later DELETE of the same name (which
// would bring the deleted function back into the bucket), and FerretDB's unlocked read-modify-write of
// update operators never sees two writers of one document (see function-store.ts).
export class WriteQueue {
  /** The tail of each key's queue. */
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, write: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const mine = previous.then(write, write);
    const tail = mine.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    return mine.finally(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
  }
}
