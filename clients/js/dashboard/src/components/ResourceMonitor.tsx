/**
 * ResourceMonitor (FOG): the `resources` room: average CPU, memory and disk
 * as bars, and the 10 busiest devices.
 */
import { useMemo } from 'react';
import { useResourceMonitor, useWavecast } from 'wavecast/react';
import { useFrameValue } from '../frame';
import { resourcesView, topDevices } from '../views';
import { ago, Bar, NoData, Panel } from './Panel';

export function ResourceMonitor() {
  const { client } = useWavecast();
  const resources = useResourceMonitor(client);
  const data = useFrameValue(resources.data);
  const view = useMemo(() => (data === null ? undefined : resourcesView(data)), [data]);
  const top = useMemo(() => (view ? topDevices(view.devices) : []), [view]);
  return (
    <Panel title="Resources" subtitle={resources.isLoading ? 'room resources' : ago(resources.lastUpdate)} testId="resources">
      {resources.isLoading || !view ? (
        <NoData room="resources" />
      ) : (
        <>
          <div className="resource-bars">
            <label>CPU</label>
            <Bar value={view.average.cpu} />
            <label>Memory</label>
            <Bar value={view.average.memory} />
            <label>Disk</label>
            <Bar value={view.average.disk} />
          </div>
          {top.length > 0 && (
            <table className="devices">
              <thead>
                <tr>
                  <th>device ({view.devices.length})</th>
                  <th>CPU</th>
                  <th>memory</th>
                  <th>disk</th>
                </tr>
              </thead>
              <tbody>
                {top.map((d) => (
                  <tr key={d.id}>
                    <td>{d.id}</td>
                    <td>
                      <Bar value={d.cpu} />
                    </td>
                    <td>
                      <Bar value={d.memory} />
                    </td>
                    <td>
                      <Bar value={d.disk} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </Panel>
  );
}
