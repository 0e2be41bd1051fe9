/**
 * A uPlot line chart that follows its container's width. New data is drawn
 * on the next animation frame, so a chart fed 100 times a second still
 * redraws at most once per frame. Series: x first (seconds, or steps when
 * `time` is false), then one array per line.
 */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';

export interface ChartSeries {
  label: string;
  stroke: string;
  /** A scale name; series on another scale get a right-hand axis. */
  scale?: string;
}

export interface ChartProps {
  series: ChartSeries[];
  data: uPlot.AlignedData;
  height?: number;
  time?: boolean;
  testId?: string;
}

/**
 * A time axis spans the data, and at least the last minute: uPlot widens a
 * single point to a whole day, which would squash the first samples.
 */
function timeRange(u: uPlot, min: number, max: number): uPlot.Range.MinMax {
  const xs = u.data[0];
  if (xs.length === 0) return [min, max];
  const first = xs[0];
  const last = xs[xs.length - 1];
  return [Math.min(first, last - 60), last];
}

function options(series: ChartSeries[], width: number, height: number, time: boolean): uPlot.Options {
  const scales = [...new Set(series.map((s) => s.scale ?? 'y'))];
  const axes: uPlot.Axis[] = [{ stroke: '#8a94a6', grid: { stroke: '#2a3140' } }];
  scales.forEach((scale, i) =>
    axes.push({ scale, side: i === 0 ? 3 : 1, stroke: '#8a94a6', grid: { show: i === 0, stroke: '#2a3140' }, size: 48 }),
  );
  return {
    width,
    height,
    scales: { x: time ? { time, range: timeRange } : { time } },
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 1.5, scale: s.scale ?? 'y' }))],
    axes,
    legend: { show: true, live: false },
    cursor: { show: true, drag: { x: false, y: false } },
  };
}

export function Chart({ series, data, height = 160, time = true, testId }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(data);
  const frame = useRef<number | null>(null);
  latest.current = data;
  const key = series.map((s) => `${s.label}:${s.scale ?? 'y'}`).join('|');

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const u = new uPlot(options(series, Math.max(200, el.clientWidth), height, time), latest.current, el);
    plot.current = u;
    const observer = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (w !== u.width) u.setSize({ width: w, height });
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      if (frame.current !== null) cancelAnimationFrame(frame.current);
      frame.current = null;
      u.destroy();
      plot.current = null;
    };
    // The chart is rebuilt only when the series change; data goes through setData.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, height, time]);

  useEffect(() => {
    if (frame.current !== null) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = null;
      plot.current?.setData(latest.current);
    });
  }, [data]);

  return <div className="chart" ref={box} data-testid={testId} />;
}
