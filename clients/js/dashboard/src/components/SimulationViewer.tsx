/**
 * The simulation viewer: starts a `/ws/simulation_live` run with the
 * parameters of the form, paints the potential field of each
 * `simulation_state` as a heatmap on a canvas, and charts the features
 * (docs/mfn.md). Frames can arrive faster than the screen refreshes: only
 * the newest field is painted, once per animation frame, and the charts
 * take every frame's features.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import type uPlot from 'uplot';
import { decodeField, SimulationStream, type StreamState, type WavecastError } from 'wavecast';
import { paintField } from '../colormap';
import { useFrameTick } from '../frame';
import type { Settings } from '../settings';
import { Chart } from './Chart';
import { fmt, Panel } from './Panel';

const PRESETS: Record<string, { feed: number; kill: number; du: number; dv: number }> = {
  spots: { du: 0.16, dv: 0.08, feed: 0.035, kill: 0.065 },
  coral: { du: 0.16, dv: 0.08, feed: 0.06, kill: 0.062 },
  fingerprint: { du: 0.19, dv: 0.05, feed: 0.06, kill: 0.062 },
  spirals: { du: 0.1, dv: 0.1, feed: 0.018, kill: 0.05 },
  worms: { du: 0.16, dv: 0.08, feed: 0.05, kill: 0.065 },
  zebrafish: { du: 0.16, dv: 0.08, feed: 0.035, kill: 0.06 },
};

interface Frame {
  step: number;
  total: number;
  progress: number;
  field?: unknown;
  metrics: Record<string, number>;
}

interface Series {
  step: number[];
  mean: number[];
  std: number[];
  active: number[];
  fractal: number[];
}

const emptySeries = (): Series => ({ step: [], mean: [], std: [], active: [], fractal: [] });

interface FormValues {
  preset: string;
  grid_size: number;
  steps: number;
  update_every: number;
  seed: number;
}

/** One run at a time: the stream, the newest frame, the features so far, and the canvas it paints. */
function useSimulation(settings: Settings) {
  const [state, setState] = useState<StreamState>('idle');
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const stream = useRef<SimulationStream | null>(null);
  const latest = useRef<Frame | null>(null);
  const series = useRef<Series>(emptySeries());
  const canvas = useRef<HTMLCanvasElement>(null);
  const [tick, schedule] = useFrameTick();

  useEffect(() => () => stream.current?.stop(), []);

  // Paint the newest field once per animation frame.
  useEffect(() => {
    const frame = latest.current;
    const el = canvas.current;
    if (!frame?.field || !el) return;
    const field = decodeField(frame.field);
    if (typeof field === 'string') {
      setError(field);
      return;
    }
    if (el.width !== field.width || el.height !== field.height) {
      el.width = field.width;
      el.height = field.height;
    }
    const ctx = el.getContext('2d');
    if (!ctx) return;
    const image = ctx.createImageData(field.width, field.height);
    paintField(field, image);
    ctx.putImageData(image, 0, 0);
  }, [tick]);

  const start = (form: FormValues) => {
    stream.current?.stop();
    series.current = emptySeries();
    latest.current = null;
    setError(null);
    setDone(null);
    const run = new SimulationStream({ url: `${settings.ws}/ws/simulation_live`, token: settings.token, apiKey: settings.apiKey });
    stream.current = run;
    run.on('state', (s: StreamState) => setState(s));
    run.on('error', (err: WavecastError) => setError(`${err.code}: ${err.error}`));
    run.on('simulation_state', (f: { step: number; total_steps: number; progress: number; field?: unknown; metrics: Record<string, number> }) => {
      latest.current = { step: f.step, total: f.total_steps, progress: f.progress, field: f.field, metrics: f.metrics };
      const s = series.current;
      s.step.push(f.step);
      s.mean.push(f.metrics.potential_mean);
      s.std.push(f.metrics.potential_std);
      s.active.push(f.metrics.active_ratio);
      s.fractal.push(f.metrics.fractal_dimension);
      schedule();
    });
    run.on('simulation_complete', (f: { duration_ms: number; steps: number }) => {
      setDone(`${f.steps} steps in ${f.duration_ms} ms`);
      schedule();
    });
    const preset = PRESETS[form.preset] ?? PRESETS.spots;
    const { grid_size, steps, update_every, seed } = form;
    run.start({ ...preset, grid_size, steps, update_every, seed, include_field: true }, `dash${Date.now() % 1e6}`);
  };
  const stop = () => stream.current?.stop();
  return { state, error, done, frame: latest.current, series: series.current, canvas, start, stop };
}

export function SimulationViewer({ settings }: { settings: Settings }) {
  const sim = useSimulation(settings);
  const { frame, series: s } = sim;
  const running = sim.state === 'running' || sim.state === 'connecting';
  return (
    <Panel title="Simulation" subtitle="/ws/simulation_live · Gray–Scott" testId="simulation" className="wide">
      <SimulationForm running={running} onStart={sim.start} onStop={sim.stop} />
      <div className="sim">
        <div className="sim-canvas-box">
          <canvas ref={sim.canvas} className="sim-canvas" width={128} height={128} data-testid="sim-canvas" />
          <div className="progress">
            <div className="progress-fill task-running" style={{ width: `${(frame?.progress ?? 0) * 100}%` }} />
          </div>
          <p className="muted" data-testid="sim-status" data-state={sim.state}>
            {sim.state}
            {frame ? ` · step ${frame.step} / ${frame.total}` : ''}
            {sim.done ? ` · ${sim.done}` : ''}
          </p>
          {sim.error && <p className="warn-text">{sim.error}</p>}
        </div>
        <div className="sim-charts">
          <Chart
            time={false}
            series={[
              { label: 'potential mean', stroke: '#4cc9f0' },
              { label: 'potential std', stroke: '#f72585' },
            ]}
            data={[s.step.slice(), s.mean.slice(), s.std.slice()] as uPlot.AlignedData}
            height={130}
          />
          <Chart
            time={false}
            series={[
              { label: 'active ratio', stroke: '#b5e48c' },
              { label: 'fractal dimension', stroke: '#ffd166', scale: 'fd' },
            ]}
            data={[s.step.slice(), s.active.slice(), s.fractal.slice()] as uPlot.AlignedData}
            height={130}
          />
          {frame && (
            <div className="kv-row">
              {['active_nodes', 'energy', 'gradient_energy', 'fractal_r_squared'].map((k) => (
                <span key={k} className="kv">
                  <span className="k">{k}</span> <span className="v">{fmt(frame.metrics[k], 3)}</span>
                </span>
              ))}
            </div>
          )}
        </div>
      </div>
    </Panel>
  );
}

function SimulationForm(props: { running: boolean; onStart: (form: FormValues) => void; onStop: () => void }) {
  const [form, setForm] = useState<FormValues>({ preset: 'coral', grid_size: 128, steps: 10000, update_every: 20, seed: 42 });
  const set = (k: keyof FormValues) => (e: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [k]: k === 'preset' ? e.target.value : Number(e.target.value) }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    props.onStart(form);
  };
  return (
    <form className="row sim-form" onSubmit={submit}>
      <label>
        pattern
        <select value={form.preset} onChange={set('preset')} data-testid="sim-preset">
          {Object.keys(PRESETS).map((p) => (
            <option key={p}>{p}</option>
          ))}
        </select>
      </label>
      <label>
        grid
        <input type="number" min={8} max={512} value={form.grid_size} onChange={set('grid_size')} data-testid="sim-grid" />
      </label>
      <label>
        steps
        <input type="number" min={1} value={form.steps} onChange={set('steps')} data-testid="sim-steps" />
      </label>
      <label>
        every
        <input type="number" min={1} value={form.update_every} onChange={set('update_every')} data-testid="sim-every" />
      </label>
      <label>
        seed
        <input type="number" min={0} value={form.seed} onChange={set('seed')} />
      </label>
      <button type="submit" data-testid="sim-start">
        {props.running ? 'Restart' : 'Start'}
      </button>
      <button type="button" onClick={props.onStop} disabled={!props.running}>
        Stop
      </button>
    </form>
  );
}
