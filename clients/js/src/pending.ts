/**
 * Optimistic updates (Netra): a message sent with `sendOptimistic` or
 * `publish` gets a pending record at once. The server's reply with the same
 * id confirms it (`publish_success`, `subscribe_success`, `pong`, ...) or
 * rolls it back (an error frame). It is also rolled back when no reply comes
 * within the ack timeout, when the connection it was sent on is lost, or
 * when the offline queue drops it. A record settles exactly once.
 */
import { clientError, serverError, type WavecastError } from './errors.js';
import { isErrorFrame, type ClientMessage, type ServerFrame } from './protocol.js';

export type PendingStatus = 'pending' | 'confirmed' | 'rolled_back';

export interface PendingRecord {
  id: string;
  message: ClientMessage;
  status: PendingStatus;
  createdAt: number;
  /** The reply that confirmed it. */
  reply?: ServerFrame;
  /** Why it was rolled back. */
  error?: WavecastError;
  /** Resolves with the record once it is confirmed or rolled back. Never rejects. */
  settled: Promise<PendingRecord>;
}

interface Entry {
  record: PendingRecord;
  resolve: (record: PendingRecord) => void;
  timer?: ReturnType<typeof setTimeout>;
  sent: boolean;
}

export class PendingTracker {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<(record: PendingRecord) => void>();
  private seq = 0;

  constructor(
    private readonly ackTimeout: number,
    private readonly onListenerError: (error: unknown) => void = () => {},
  ) {}

  /** Creates a record for `message`, giving it an id if it has none. */
  create(message: ClientMessage): PendingRecord {
    const id = message.id !== undefined ? String(message.id) : `o${++this.seq}`;
    if (message.id === undefined) message.id = id;
    let resolve!: (record: PendingRecord) => void;
    const settled = new Promise<PendingRecord>((r) => (resolve = r));
    const record: PendingRecord = { id, message, status: 'pending', createdAt: Date.now(), settled };
    this.entries.set(id, { record, resolve, sent: false });
    this.notify(record);
    return record;
  }

  has(id: unknown): boolean {
    return (typeof id === 'string' || typeof id === 'number') && this.entries.has(String(id));
  }

  get size(): number {
    return this.entries.size;
  }

  list(): PendingRecord[] {
    return [...this.entries.values()].map((e) => e.record);
  }

  onChange(listener: (record: PendingRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The message went out on the socket: the ack timer starts. */
  markSent(id: string): void {
    const entry = this.entries.get(id);
    if (!entry || entry.sent) return;
    entry.sent = true;
    if (this.ackTimeout > 0) {
      entry.timer = setTimeout(
        () => this.rollback(id, clientError('ack_timeout', `no reply to "${id}" within ${this.ackTimeout} ms`)),
        this.ackTimeout,
      );
    }
  }

  /** Settles the record a reply answers, if any. Returns it. */
  settleWith(frame: ServerFrame): PendingRecord | undefined {
    const raw = frame.id ?? frame.correlation_id;
    if (raw === undefined || raw === null) return undefined;
    const id = String(raw);
    if (!this.entries.has(id)) return undefined;
    if (isErrorFrame(frame)) return this.rollback(id, serverError(frame));
    const entry = this.take(id);
    if (!entry) return undefined;
    entry.record.status = 'confirmed';
    entry.record.reply = frame;
    this.finish(entry);
    return entry.record;
  }

  rollback(id: string, error: WavecastError): PendingRecord | undefined {
    const entry = this.take(id);
    if (!entry) return undefined;
    entry.record.status = 'rolled_back';
    entry.record.error = error;
    this.finish(entry);
    return entry.record;
  }

  /** Rolls back every record already sent (the connection carrying them was lost). */
  rollbackSent(error: () => WavecastError): void {
    for (const [id, entry] of [...this.entries]) if (entry.sent) this.rollback(id, error());
  }

  /** Rolls back everything (the client was stopped). */
  rollbackAll(error: () => WavecastError): void {
    for (const id of [...this.entries.keys()]) this.rollback(id, error());
  }

  private take(id: string): Entry | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    this.entries.delete(id);
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    return entry;
  }

  private finish(entry: Entry): void {
    entry.resolve(entry.record);
    this.notify(entry.record);
  }

  private notify(record: PendingRecord): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(record);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }
}
