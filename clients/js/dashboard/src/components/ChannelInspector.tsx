/**
 * The channel inspector: subscribe to any channel, watch its frames live
 * with their offsets (the last 300, newest first), and publish into it
 * through the server API (`POST /api/publish`). Frames are collected in a
 * ref and the list re-renders at most once per animation frame.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { isValidChannel, publishHttp, type ServerFrame, type WavecastError, type WebSocketClient } from 'wavecast';
import { useWavecast } from 'wavecast/react';
import { useFrameTick } from '../frame';
import type { Settings } from '../settings';
import { Panel } from './Panel';

interface Row {
  n: number;
  time: string;
  channel: string;
  type: string;
  offset?: number;
  text: string;
}

const MAX_ROWS = 300;
/** Rows on screen: fewer rows to repaint when frames arrive fast. */
const SHOWN = 50;

function preview(data: unknown): string {
  const s = JSON.stringify(data) ?? 'undefined';
  return s.length > 240 ? `${s.slice(0, 240)}…` : s;
}

/** The inspected channels (each held on the client) and the frames seen on them, newest first. */
function useInspector(client: WebSocketClient) {
  const [channels, setChannels] = useState<string[]>([]);
  const [notice, setNotice] = useState<string | null>(null);
  const releases = useRef(new Map<string, () => void>());
  const watched = useRef(new Set<string>());
  const rows = useRef<Row[]>([]);
  const count = useRef(0);
  const [, schedule] = useFrameTick();

  useEffect(() => {
    const offFrames = client.on('*', (frame: ServerFrame) => {
      if (frame.type === 'subscribe_success' || frame.type === 'unsubscribe_success') {
        schedule(); // the chips show whether each channel is subscribed
        return;
      }
      const channel = typeof frame.channel === 'string' ? frame.channel : undefined;
      if (!channel || !watched.current.has(channel)) return;
      rows.current.unshift({
        n: ++count.current,
        time: typeof frame.timestamp === 'string' ? frame.timestamp.slice(11, 23) : new Date().toISOString().slice(11, 23),
        channel,
        type: frame.type,
        offset: typeof frame.offset === 'number' ? frame.offset : undefined,
        text: frame.type === 'dropped' ? `dropped ${String(frame.count)} publications` : preview(frame.data),
      });
      if (rows.current.length > MAX_ROWS) rows.current.length = MAX_ROWS;
      schedule();
    });
    const offErrors = client.on('error', (e: WavecastError) => {
      if (e.frameType === 'subscribe_failed') setNotice(`subscribe failed: ${e.code}: ${e.error}`);
    });
    const offState = client.onStateChange(() => schedule());
    const held = releases.current;
    return () => {
      offState();
      offFrames();
      offErrors();
      for (const release of held.values()) release();
      held.clear();
    };
  }, [client, schedule]);

  const add = (name: string) => {
    if (!isValidChannel(name)) {
      setNotice(`"${name}" is not a channel name: 1-255 letters, digits and _ - : . @ # /`);
      return false;
    }
    if (!watched.current.has(name)) {
      watched.current.add(name);
      releases.current.set(name, client.hold([name]));
      setChannels((c) => [...c, name]);
    }
    setNotice(null);
    return true;
  };
  const remove = (name: string) => {
    releases.current.get(name)?.();
    releases.current.delete(name);
    watched.current.delete(name);
    setChannels((c) => c.filter((x) => x !== name));
  };
  return { channels, notice, add, remove, rows: rows.current, count: count.current };
}

export function ChannelInspector({ settings }: { settings: Settings }) {
  const { client } = useWavecast();
  const inspector = useInspector(client);
  const [input, setInput] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (inspector.add(input.trim())) setInput('');
  };
  return (
    <Panel title="Channel inspector" subtitle={`${inspector.count} frames`} testId="inspector" className="wide">
      <form className="row" onSubmit={submit}>
        <input data-testid="inspect-channel" placeholder="channel, e.g. news or chat:lobby" value={input} onChange={(e) => setInput(e.target.value)} />
        <button type="submit" data-testid="inspect-subscribe">
          Subscribe
        </button>
      </form>
      {inspector.notice && <p className="warn-text">{inspector.notice}</p>}
      <div className="chips">
        {inspector.channels.map((c) => {
          const p = client.getPosition(c);
          return (
            <span key={c} className="chip" data-testid="inspected-channel" data-channel={c} data-subscribed={client.isSubscribed(c)}>
              <code>{c}</code>
              <span className="muted">
                {p?.offset !== undefined ? ` @${p.offset}` : ''}
                {p?.epoch ? ` ${p.epoch.slice(0, 6)}` : ''}
              </span>
              <button type="button" className="chip-x" onClick={() => inspector.remove(c)} title="unsubscribe">
                ×
              </button>
            </span>
          );
        })}
      </div>
      <Publisher settings={settings} defaultChannel={inspector.channels[0] ?? ''} />
      <FrameTable rows={inspector.rows.slice(0, SHOWN)} />
    </Panel>
  );
}

function FrameTable({ rows }: { rows: Row[] }) {
  return (
    <table className="frames" data-testid="inspector-frames">
      <thead>
        <tr>
          <th>time</th>
          <th>channel</th>
          <th>offset</th>
          <th>type</th>
          <th>data</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.n} data-testid="frame-row">
            <td className="mono">{r.time}</td>
            <td>
              <code>{r.channel}</code>
            </td>
            <td className="mono">{r.offset ?? ''}</td>
            <td>{r.type}</td>
            <td className="mono data">{r.text}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Publisher({ settings, defaultChannel }: { settings: Settings; defaultChannel: string }) {
  const [channel, setChannel] = useState('');
  const [type, setType] = useState('');
  const [data, setData] = useState('{"hello":"world"}');
  const [result, setResult] = useState<string | null>(null);
  const target = channel || defaultChannel;

  const publish = async (e: FormEvent) => {
    e.preventDefault();
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch {
      value = data;
    }
    const r = await publishHttp(settings.http, { channel: target, data: value, ...(type ? { type } : {}) }, { apiKey: settings.httpKey });
    setResult(r.ok ? `published at offset ${r.body.offset ?? '–'}, delivered to ${r.body.delivered ?? r.body.nodes ?? 0}` : `${r.error.code}: ${r.error.error}`);
  };

  return (
    <form className="row publisher" onSubmit={publish}>
      <input data-testid="publish-channel" placeholder={defaultChannel || 'channel'} value={channel} onChange={(e) => setChannel(e.target.value)} />
      <input data-testid="publish-type" placeholder="event type (publication)" value={type} onChange={(e) => setType(e.target.value)} />
      <input data-testid="publish-data" className="grow" value={data} onChange={(e) => setData(e.target.value)} />
      <button type="submit" data-testid="publish" disabled={!target}>
        Publish
      </button>
      {result && (
        <span className="muted" data-testid="publish-result">
          {result}
        </span>
      )}
    </form>
  );
}
