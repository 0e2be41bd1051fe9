/**
 * The bounded offline queue. Messages sent while the connection is not
 * ready wait here, oldest first. When the queue is full the oldest message
 * is dropped to make room, and the dropped one is returned so that the
 * caller can report it.
 */

export class BoundedQueue<T> {
  private items: T[] = [];
  private head = 0;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.items.length - this.head;
  }

  /** Adds `item`; returns the item dropped to make room, if any. */
  push(item: T): T | undefined {
    let dropped: T | undefined;
    if (this.capacity <= 0) return item;
    if (this.length >= this.capacity) dropped = this.shift();
    this.items.push(item);
    return dropped;
  }

  peek(): T | undefined {
    return this.length > 0 ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.items[this.head];
    this.head += 1;
    // Compact now and then, so the array does not grow without bound.
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Removes and returns every item, oldest first. */
  drain(): T[] {
    const out = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return out;
  }

  /** Removes the items for which `predicate` holds; returns them. */
  remove(predicate: (item: T) => boolean): T[] {
    const kept: T[] = [];
    const removed: T[] = [];
    for (const item of this.items.slice(this.head)) (predicate(item) ? removed : kept).push(item);
    this.items = kept;
    this.head = 0;
    return removed;
  }
}
