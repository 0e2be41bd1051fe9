/**
 * Handler registry with a `*` wildcard. `on` returns the function that
 * removes the handler. A handler that throws is isolated: the error goes to
 * the `onHandlerError` callback and the remaining handlers still run.
 * Handlers added or removed during a dispatch take effect from the next one.
 */

export type Handler<T = any> = (message: T, envelope?: any) => void;

export class Emitter {
  private readonly handlers = new Map<string, Handler[]>();

  constructor(private readonly onHandlerError: (type: string, error: unknown) => void) {}

  on(type: string, handler: Handler): () => void {
    const list = this.handlers.get(type);
    // Copy on write, so that a dispatch in progress keeps its own array.
    this.handlers.set(type, list ? [...list, handler] : [handler]);
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      const current = this.handlers.get(type);
      if (!current) return;
      const index = current.indexOf(handler);
      if (index < 0) return;
      const next = current.slice(0, index).concat(current.slice(index + 1));
      if (next.length === 0) this.handlers.delete(type);
      else this.handlers.set(type, next);
    };
  }

  has(type: string): boolean {
    return this.handlers.has(type);
  }

  /** Calls the handlers of `type` only (not the wildcard). */
  emit(type: string, message: unknown, envelope?: unknown): void {
    const list = this.handlers.get(type);
    if (!list) return;
    for (let i = 0; i < list.length; i++) {
      try {
        list[i](message, envelope);
      } catch (error) {
        this.onHandlerError(type, error);
      }
    }
  }

  clear(): void {
    this.handlers.clear();
  }
}
