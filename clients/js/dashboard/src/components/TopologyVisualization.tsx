/**
 * TopologyVisualization (FOG): the `topology` room as an interactive graph.
 * Nodes can be dragged; clicking one highlights its links and shows its
 * details. The header shows the connection density and what changed in the
 * last update (nodes and links added or removed). The layout is recomputed
 * only when the set of nodes or links changes.
 */
import { useEffect, useMemo, useRef, useState, type PointerEvent } from 'react';
import { useTopology, useWavecast } from 'wavecast/react';
import { useFrameValue } from '../frame';
import { layout, type Point } from '../layout';
import { density, topologyChange, topologyView, type TopologyChange, type TopologyView } from '../views';
import { ago, fmt, NoData, Panel } from './Panel';

const W = 480;
const H = 300;

function useLayout(view: TopologyView | undefined): [Map<string, Point>, (id: string, p: Point) => void] {
  const [positions, setPositions] = useState(new Map<string, Point>());
  const key = view ? `${view.nodes.map((n) => n.id).join(',')}|${view.edges.map((e) => `${e.source}>${e.target}`).join(',')}` : '';
  useEffect(() => {
    if (!view) return;
    setPositions((prev) => layout(view.nodes.map((n) => n.id), view.edges, prev));
    // `key` stands for the node and edge sets.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  const move = (id: string, p: Point) => setPositions((prev) => new Map(prev).set(id, p));
  return [positions, move];
}

export function TopologyVisualization() {
  const { client } = useWavecast();
  const topology = useTopology(client);
  const data = useFrameValue(topology.data);
  const previous = useRef<TopologyView | undefined>(undefined);
  const [change, setChange] = useState<TopologyChange | undefined>(undefined);
  const view = useMemo(() => (data === null ? undefined : topologyView(data)), [data]);
  useEffect(() => {
    if (!view) return;
    setChange(topologyChange(previous.current, view));
    previous.current = view;
  }, [view]);
  return (
    <Panel title="Topology" subtitle={topology.isLoading ? 'room topology' : ago(topology.lastUpdate)} testId="topology">
      {topology.isLoading || !view ? (
        <NoData room="topology" />
      ) : (
        <>
          <div className="kv-row">
            <span className="kv">
              nodes <strong>{view.nodes.length}</strong>
            </span>
            <span className="kv">
              links <strong>{view.edges.length}</strong>
            </span>
            <span className="kv">
              density <strong>{fmt(density(view) * 100, 1, '%')}</strong>
            </span>
            {change && <ChangeIndicator change={change} />}
          </div>
          <Graph view={view} />
        </>
      )}
    </Panel>
  );
}

function ChangeIndicator({ change }: { change: TopologyChange }) {
  return (
    <span className="kv change" data-testid="topology-change">
      {change.nodesAdded > 0 && <span className="up">+{change.nodesAdded} nodes </span>}
      {change.nodesRemoved > 0 && <span className="down">−{change.nodesRemoved} nodes </span>}
      {change.edgesAdded > 0 && <span className="up">+{change.edgesAdded} links </span>}
      {change.edgesRemoved > 0 && <span className="down">−{change.edgesRemoved} links</span>}
    </span>
  );
}

/** The graph itself: drag a node to move it, click it to highlight its links and show its details. */
function Graph({ view }: { view: TopologyView }) {
  const [positions, move] = useLayout(view);
  const [selected, setSelected] = useState<string | null>(null);
  const dragging = useRef<string | null>(null);
  const svg = useRef<SVGSVGElement>(null);

  const onMove = (e: PointerEvent<SVGSVGElement>) => {
    const id = dragging.current;
    const box = svg.current?.getBoundingClientRect();
    if (!id || !box) return;
    move(id, { x: Math.min(0.98, Math.max(0.02, (e.clientX - box.left) / box.width)), y: Math.min(0.98, Math.max(0.02, (e.clientY - box.top) / box.height)) });
  };
  const node = view.nodes.find((n) => n.id === selected);
  const links = view.edges.filter((e) => e.source === selected || e.target === selected);
  return (
    <>
      <svg
        ref={svg}
        className="topology"
        viewBox={`0 0 ${W} ${H}`}
        onPointerMove={onMove}
        onPointerUp={() => (dragging.current = null)}
        onPointerLeave={() => (dragging.current = null)}
      >
        {view.edges.map((e, i) => {
          const a = positions.get(e.source);
          const b = positions.get(e.target);
          if (!a || !b) return null;
          const hot = selected !== null && (e.source === selected || e.target === selected);
          return <line key={i} x1={a.x * W} y1={a.y * H} x2={b.x * W} y2={b.y * H} className={hot ? 'edge hot' : 'edge'} />;
        })}
        {view.nodes.map((n) => {
          const p = positions.get(n.id);
          if (!p) return null;
          return (
            <g
              key={n.id}
              transform={`translate(${p.x * W},${p.y * H})`}
              className={`vertex health-${n.status} ${selected === n.id ? 'selected' : ''}`}
              onPointerDown={(e) => {
                dragging.current = n.id;
                setSelected(n.id);
                (e.target as Element).setPointerCapture?.(e.pointerId);
              }}
            >
              <circle r={selected === n.id ? 9 : 7} />
              {view.nodes.length <= 40 && (
                <text x={10} y={4}>
                  {n.label}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      {node && (
        <p className="muted">
          <strong>{node.label}</strong> {node.kind ?? ''} · {node.status} · {links.length} links
          {links.some((l) => l.latencyMs !== undefined) && ` · mean latency ${fmt(links.reduce((s, l) => s + (l.latencyMs ?? 0), 0) / links.length, 1, ' ms')}`}
        </p>
      )}
    </>
  );
}
