/**
 * Force-directed layout for the topology graph (Fruchterman–Reingold, in a
 * unit square). Deterministic: new nodes start on a circle by their index,
 * and nodes that were already placed keep their positions as a start, so
 * the picture moves little when the graph changes.
 */

export interface Point {
  x: number;
  y: number;
}

export function layout(
  ids: string[],
  edges: Array<{ source: string; target: string }>,
  previous: Map<string, Point>,
  iterations = ids.length > 100 ? 30 : 120,
): Map<string, Point> {
  const n = ids.length;
  const pos = ids.map((id, i) => {
    const p = previous.get(id);
    if (p) return { x: p.x, y: p.y };
    const a = (2 * Math.PI * i) / Math.max(1, n);
    return { x: 0.5 + 0.35 * Math.cos(a), y: 0.5 + 0.35 * Math.sin(a) };
  });
  const index = new Map(ids.map((id, i) => [id, i]));
  const links = edges
    .map((e) => [index.get(e.source), index.get(e.target)] as const)
    .filter((l): l is readonly [number, number] => l[0] !== undefined && l[1] !== undefined && l[0] !== l[1]);
  const k = Math.sqrt(1 / Math.max(1, n));
  let temperature = 0.1;
  const dx = new Float64Array(n);
  const dy = new Float64Array(n);
  for (let it = 0; it < iterations; it++) {
    dx.fill(0);
    dy.fill(0);
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        let ddx = pos[i].x - pos[j].x;
        let ddy = pos[i].y - pos[j].y;
        let d2 = ddx * ddx + ddy * ddy;
        if (d2 < 1e-9) {
          ddx = 1e-3 * ((i % 7) - 3);
          ddy = 1e-3 * ((j % 5) - 2);
          d2 = ddx * ddx + ddy * ddy + 1e-9;
        }
        const f = (k * k) / d2;
        dx[i] += ddx * f;
        dy[i] += ddy * f;
        dx[j] -= ddx * f;
        dy[j] -= ddy * f;
      }
    }
    for (const [a, b] of links) {
      const ddx = pos[a].x - pos[b].x;
      const ddy = pos[a].y - pos[b].y;
      const d = Math.sqrt(ddx * ddx + ddy * ddy) + 1e-9;
      const f = d / k;
      dx[a] -= ddx * f;
      dy[a] -= ddy * f;
      dx[b] += ddx * f;
      dy[b] += ddy * f;
    }
    for (let i = 0; i < n; i++) {
      const d = Math.sqrt(dx[i] * dx[i] + dy[i] * dy[i]) + 1e-9;
      const step = Math.min(d, temperature);
      // Labels are drawn to the right of a node: keep room for them.
      pos[i].x = Math.min(0.86, Math.max(0.04, pos[i].x + (dx[i] / d) * step));
      pos[i].y = Math.min(0.95, Math.max(0.05, pos[i].y + (dy[i] / d) * step));
    }
    temperature *= 0.95;
  }
  return new Map(ids.map((id, i) => [id, pos[i]]));
}
