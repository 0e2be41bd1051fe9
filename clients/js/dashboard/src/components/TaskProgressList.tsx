/**
 * TaskProgressList (FOG): the `tasks` room: the breakdown by status
 * (pending / running / completed / failed), and a progress bar with an ETA
 * for each task. The ETA is the task's own `eta_seconds`, or is estimated
 * from its progress since the previous update.
 */
import { useMemo } from 'react';
import { useTaskProgress, useWavecast } from 'wavecast/react';
import { useFrameValue } from '../frame';
import { estimateEta, tasksView, type TaskStatus } from '../views';
import { ago, NoData, Panel } from './Panel';

const ORDER: TaskStatus[] = ['running', 'pending', 'failed', 'completed'];

function eta(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '';
  if (seconds < 60) return `ETA ${Math.ceil(seconds)} s`;
  if (seconds < 3600) return `ETA ${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s`;
  return `ETA ${(seconds / 3600).toFixed(1)} h`;
}

export function TaskProgressList() {
  const { client } = useWavecast();
  const tasks = useTaskProgress(client);
  const history = useFrameValue(tasks.history);
  const model = useMemo(() => {
    const last = history.at(-1);
    const prev = history.at(-2);
    if (!last) return undefined;
    const view = tasksView(last.data);
    const before = new Map((prev ? tasksView(prev.data).tasks : []).map((t) => [t.id, { progress: t.progress, time: prev!.time.getTime() }]));
    const rows = [...view.tasks]
      .sort((a, b) => ORDER.indexOf(a.status) - ORDER.indexOf(b.status))
      .slice(0, 25)
      .map((t) => ({ ...t, eta: estimateEta(t, before.get(t.id), last.time.getTime()) }));
    return { counts: view.counts, rows, total: Object.values(view.counts).reduce((a, b) => a + b, 0) };
  }, [history]);

  return (
    <Panel title="Tasks" subtitle={tasks.isLoading ? 'room tasks' : ago(tasks.lastUpdate)} testId="tasks">
      {tasks.isLoading || !model ? (
        <NoData room="tasks" />
      ) : (
        <>
          <div className="breakdown">
            {(['pending', 'running', 'completed', 'failed'] as TaskStatus[]).map((s) => (
              <div key={s} className={`seg task-${s}`} style={{ flexGrow: model.counts[s] || 0.0001 }} title={`${s}: ${model.counts[s]}`} />
            ))}
          </div>
          <div className="kv-row">
            {(['pending', 'running', 'completed', 'failed'] as TaskStatus[]).map((s) => (
              <span key={s} className="kv">
                <span className={`legend task-${s}`} /> {s} <strong>{model.counts[s]}</strong>
              </span>
            ))}
          </div>
          <ul className="task-list">
            {model.rows.map((t) => (
              <li key={t.id} className={`task status-${t.status}`}>
                <span className="task-name" title={t.id}>
                  {t.name}
                </span>
                <div className="progress">
                  <div className={`progress-fill task-${t.status}`} style={{ width: `${t.progress}%` }} />
                </div>
                <span className="task-meta">
                  {t.progress.toFixed(0)}% {t.status === 'running' ? eta(t.eta) : t.status}
                </span>
              </li>
            ))}
          </ul>
        </>
      )}
    </Panel>
  );
}
