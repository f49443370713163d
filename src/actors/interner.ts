/**
 * Values shared by many entries of a table, each under a small number with a count of its
 * uses: what a task table stores per task instead of a reference (a shape, a worker id). A
 * value no entry uses any more is forgotten and its number reused, so unique values do not
 * grow the table without end. Pure data structure.
 */
export class Interner<V> {
  readonly #byKey = new Map<string, number>();
  readonly #keys: string[] = [];
  readonly #values: (V | undefined)[] = [];
  readonly #refs: number[] = [];
  readonly #free: number[] = [];

  /** Values in use. */
  get size(): number {
    return this.#byKey.size;
  }

  /** The number of the value under `key` (made by `make` on first use), counting one use. */
  acquire(key: string, make: () => V): number {
    const known = this.#byKey.get(key);
    if (known !== undefined) {
      this.#refs[known]!++;
      return known;
    }
    const n = this.#free.pop() ?? this.#values.length;
    this.#keys[n] = key;
    this.#values[n] = make();
    this.#refs[n] = 1;
    this.#byKey.set(key, n);
    return n;
  }

  /** One use fewer; the value is forgotten after its last. */
  release(n: number): void {
    const refs = (this.#refs[n] ?? 0) - 1;
    if (refs < 0) throw new Error(`interned value ${n} released more often than acquired`);
    this.#refs[n] = refs;
    if (refs > 0) return;
    this.#byKey.delete(this.#keys[n]!);
    this.#values[n] = undefined;
    this.#free.push(n);
  }

  /** The uses of the value under `key` (0 when none). */
  uses(key: string): number {
    const n = this.#byKey.get(key);
    return n === undefined ? 0 : this.#refs[n]!;
  }

  get(n: number): V {
    const v = this.#values[n];
    if (v === undefined) throw new Error(`interned value ${n} is not in use`);
    return v;
  }
}
