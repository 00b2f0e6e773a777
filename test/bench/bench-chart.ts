/**
 * The benchmark's PNG chart: throughput of every contender per model, latency percentiles per
 * load level, and the RSS curve of the large backlog. Drawn with Vega-Lite to SVG, rasterized
 * with resvg (both from npm, no browser or canvas needed).
 */
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { LatencyRow } from './latency.bench.js';
import type { MemoryResult } from './memory.bench.js';
import type { ThroughputRow } from './throughput.bench.js';

export async function benchChartPng(
  throughput: readonly ThroughputRow[],
  latency: readonly LatencyRow[],
  memory: MemoryResult | undefined,
  title: string,
): Promise<Buffer> {
  const panels: object[] = [];
  for (const model of [...new Set(throughput.map((row) => row.model))]) {
    panels.push({
      title: `${model}: events/s draining a backlog (higher is better)`,
      data: { values: throughput.filter((row) => row.model === model) },
      mark: { type: 'bar', tooltip: false },
      width: 520,
      encoding: {
        y: {
          field: 'contender',
          type: 'nominal',
          sort: null,
          title: null,
          axis: { labelLimit: 300 },
        },
        x: { field: 'eventsPerSecond', type: 'quantitative', title: 'events/s' },
        color: { field: 'contender', type: 'nominal', legend: null },
      },
    });
  }
  if (latency.length > 0) {
    panels.push({
      title: 'worker latency, event timestamp → prediction LogAppendTime (ms)',
      data: {
        values: latency.flatMap((row) =>
          (['p50', 'p95', 'p99'] as const).map((percentile) => ({
            load: `${row.share * 100}% of max`,
            percentile,
            ms: row[percentile],
          })),
        ),
      },
      mark: 'bar',
      width: 520,
      encoding: {
        y: { field: 'load', type: 'nominal', title: null },
        yOffset: { field: 'percentile' },
        x: { field: 'ms', type: 'quantitative', title: 'ms' },
        color: { field: 'percentile', type: 'nominal', legend: { orient: 'bottom', title: null } },
      },
    });
  }
  if (memory) {
    panels.push({
      title: `worker RSS while draining ${memory.events.toLocaleString('en-US')} events (MB)`,
      data: { values: memory.samples.map(([seconds, mb]) => ({ seconds, mb })) },
      mark: 'line',
      width: 520,
      encoding: {
        x: { field: 'seconds', type: 'quantitative', title: 's since ready' },
        y: { field: 'mb', type: 'quantitative', title: 'RSS MB' },
      },
    });
  }
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    vconcat: panels,
    config: { font: 'sans-serif', background: 'white' },
  } as TopLevelSpec;
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return new Resvg(svg, {
    fitTo: { mode: 'zoom', value: 1.5 },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  })
    .render()
    .asPng();
}
