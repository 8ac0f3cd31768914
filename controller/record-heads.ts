// One small document per function incarnation (scope, see scopeOf) that has records: where its listing pages start and end, and its oldest
// metrics rollup block. Writers move `head` up when they claim a page and `rollupsFrom` down when they claim a
// block; retention moves `tail` up as it purges. `head` is a hint: a reader looks one page past it.
// The collection holds one document per function, so retention may read it whole.
import type { Collection, Db } from "mongodb";

export interface HeadDoc {
  _id: string;
  /** The newest listing page claimed (a hint: a writer may have claimed one more). */
  head: number;
  /** The oldest listing page not purged. */
  tail: number;
  /** The oldest metrics rollup block that may exist. */
  rollupsFrom?: Date;
}

export class RecordHeads {
  readonly collection: Collection<HeadDoc>;
  /**
   * The update in progress per document. FerretDB (the embedded store) applies concurrent updates of one
   * document as read-modify-write and silently keeps only one: two $min upserts of rollupsFrom at once lost the
   * lower block in 34 of 60 trials, leaving a rollup that retention never purges. Updates of one head are
   * therefore made one at a time here (MongoDB needs no help; several controllers on FerretDB still can race).
   */
  private readonly updating = new Map<string, Promise<unknown>>();

  constructor(db: Db) {
    this.collection = db.collection<HeadDoc>("invocation_heads");
  }

  private inTurn(id: string, update: () => Promise<unknown>): Promise<void> {
    const previous = this.updating.get(id) ?? Promise.resolve();
    const mine = previous.catch(() => undefined).then(update);
    this.updating.set(id, mine);
    void mine.catch(() => undefined).finally(() => {
      if (this.updating.get(id) === mine) this.updating.delete(id);
    });
    return mine.then(() => undefined);
  }

  get(functionName: string): Promise<HeadDoc | null> {
    return this.collection.findOne({ _id: functionName });
  }

  all(): Promise<HeadDoc[]> {
    return this.collection.find({}).toArray();
  }

  async pageClaimed(functionName: string, n: number): Promise<void> {
    await this.inTurn(functionName, () => this.collection.updateOne({ _id: functionName }, { $max: { head: n }, $setOnInsert: { tail: n } }, { upsert: true }));
  }

  async rollupWritten(functionName: string, block: Date): Promise<void> {
    await this.inTurn(functionName, () =>
      this.collection.updateOne({ _id: functionName }, { $min: { rollupsFrom: block }, $setOnInsert: { head: -1, tail: 0 } }, { upsert: true }),
    );
  }

  async purged(functionName: string, fields: { tail?: number; rollupsFrom?: Date }): Promise<void> {
    await this.inTurn(functionName, () => this.collection.updateOne({ _id: functionName }, { $max: fields }));
  }
}
