/**
 * The rooms (channels) the application wants, and where each one stands.
 *
 * - `desired`: rooms to be subscribed on every connection, with the options
 *   (filter, snapshot) they were asked with. `hold` adds reference counts so
 *   that several components can share a room.
 * - `positions`: per channel, the epoch from `subscribe_success` and the
 *   offset of the last publication received. They survive reconnects, so a
 *   resubscription can ask to `recover` from them.
 * - `inflight`: subscribe requests sent and not answered yet, by id.
 * - `active`: channels the server confirmed on the current connection.
 */
import type { ChannelPosition } from './protocol.js';

export interface RoomOptions {
  /** Server-side filter (protocol §4): `{type?: string, field: value, ...}`. */
  filter?: Record<string, unknown>;
  /** Ask for the latest retained publication right after subscribing. */
  snapshot?: boolean;
}

export interface Position {
  offset?: number;
  epoch?: string;
}

/** One subscribe request: channels that share the same options. */
export interface SubscribeBatch {
  channels: string[];
  options: RoomOptions;
}

export class Rooms {
  readonly desired = new Map<string, RoomOptions>();
  readonly positions = new Map<string, Position>();
  readonly inflight = new Map<string, { channels: string[]; snapshot: boolean }>();
  /** Channels subscribed on the current connection (a `subscribe_success` came, no unsubscribe since). */
  readonly active = new Set<string>();
  private readonly refs = new Map<string, number>();

  /** Adds rooms; returns the ones that were not wanted yet. */
  add(rooms: string[], options: RoomOptions = {}): string[] {
    const added: string[] = [];
    for (const room of rooms) {
      if (this.desired.has(room)) continue;
      this.desired.set(room, options);
      added.push(room);
    }
    return added;
  }

  /** Removes rooms; returns the ones that were wanted. Their positions are forgotten. */
  remove(rooms: string[]): string[] {
    const removed: string[] = [];
    for (const room of rooms) {
      this.refs.delete(room);
      if (!this.desired.delete(room)) continue;
      this.positions.delete(room);
      removed.push(room);
    }
    return removed;
  }

  /** Counts one more holder of each room; returns the rooms that were not wanted before. */
  hold(rooms: string[], options: RoomOptions = {}): string[] {
    const fresh = rooms.filter((r) => !this.desired.has(r));
    for (const room of rooms) this.refs.set(room, (this.refs.get(room) ?? 0) + 1);
    this.add(fresh, options);
    return fresh;
  }

  /** Counts one holder less; returns the rooms nobody holds any more. */
  release(rooms: string[]): string[] {
    const gone: string[] = [];
    for (const room of rooms) {
      const n = this.refs.get(room);
      if (n === undefined) continue;
      if (n > 1) this.refs.set(room, n - 1);
      else {
        this.refs.delete(room);
        gone.push(room);
      }
    }
    return this.remove(gone);
  }

  /** Groups the desired rooms by identical options, for resubscription. */
  batches(rooms: Iterable<string> = this.desired.keys()): SubscribeBatch[] {
    const groups = new Map<string, SubscribeBatch>();
    for (const room of rooms) {
      const options = this.desired.get(room) ?? {};
      const key = JSON.stringify(options);
      const group = groups.get(key);
      if (group) group.channels.push(room);
      else groups.set(key, { channels: [room], options });
    }
    return [...groups.values()];
  }

  /**
   * Records the positions of a `subscribe_success`. The epoch always moves
   * to the server's. The offset is the channel's current one, except:
   * - `recovered: true`: the publications after our offset are replayed
   *   next, so our offset stays where it was;
   * - a snapshot request: the snapshot publication (at or below the current
   *   offset) comes next, so the offset is left open until it arrives.
   */
  applyPositions(positions: Record<string, ChannelPosition> | undefined, snapshot: ReadonlySet<string> = new Set()): void {
    if (!positions) return;
    for (const [channel, p] of Object.entries(positions)) {
      const known = this.positions.get(channel) ?? {};
      const epoch = typeof p.epoch === 'string' ? p.epoch : known.epoch;
      let offset = typeof p.offset === 'number' ? p.offset : known.offset;
      if (p.recovered === true) offset = known.offset;
      else if (snapshot.has(channel)) offset = undefined;
      this.positions.set(channel, { offset, epoch });
    }
  }

  /**
   * Records a publication's offset. Returns false for a duplicate (an offset
   * not above the last one seen on the channel).
   */
  advance(channel: string, offset: unknown): boolean {
    if (typeof offset !== 'number') return true;
    const known = this.positions.get(channel);
    if (!known) {
      this.positions.set(channel, { offset });
      return true;
    }
    if (known.offset !== undefined && offset <= known.offset) return false;
    known.offset = offset;
    return true;
  }
}
