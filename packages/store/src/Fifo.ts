/** A FIFO over an array with a moving head (shift() is O(n) on big arrays). */
export class Fifo<T> {
  private items: T[] = [];
  private head = 0;
  get size(): number {
    return this.items.length - this.head;
  }
  push(x: T): void {
    this.items.push(x);
  }
  peek(): T | undefined {
    return this.items[this.head];
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head]!;
    this.items[this.head++] = undefined as T;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }
  drain(): T[] {
    const out = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return out;
  }

  peekTail(): T | undefined {
    return this.items.length > this.head ? this.items[this.items.length - 1] : undefined;
  }

  /** Removes and returns the items from the tail while `pred` holds (newest first). */
  popTailWhile(pred: (x: T) => boolean): T[] {
    const out: T[] = [];
    while (this.items.length > this.head && pred(this.items[this.items.length - 1]!))
      out.push(this.items.pop()!);
    return out;
  }
}
