import { join } from 'node:path';
import { Tensor } from 'onnxruntime-node';
import { UsageError } from './usage-error.js';
import { openSession } from '../model/execution-provider.js';
import { Featurizer } from '../model/featurizer.js';
import { MODEL_FILE, readModelManifest } from '../model/model-manifest.js';
import { postprocess } from '../model/postprocessor.js';
import { sampleEvent, seededRandom } from './sample-events.js';

const BATCH = 256;

/**
 * Synthetic outcomes for the sample events `produce --count` writes (ids evt-0 …): the label the
 * model at `modelDir` gives each one, replaced by another label for a share 1 − `accuracy` of
 * them (seeded). A demo's ground truth, to show the join and the accuracy panels working; it
 * says nothing about the model.
 */
export async function* sampleOutcomes(
  modelDir: string,
  count: number,
  accuracy: number,
  labelField: string,
  seed = 42,
): AsyncIterable<Record<string, unknown>> {
  const manifest = readModelManifest(modelDir);
  const { output } = manifest;
  if (output.kind !== 'classification') {
    throw new UsageError(
      `generated outcomes need a classifier; ${modelDir} is a regression: give --file`,
    );
  }
  const featurizer = new Featurizer(manifest);
  const { session } = await openSession(join(modelDir, MODEL_FILE), 'cpu', 1, ['cpu']);
  const random = seededRandom(seed);
  try {
    for (let first = 0; first < count; first += BATCH) {
      const size = Math.min(BATCH, count - first);
      const rows = new Float32Array(size * featurizer.width);
      const events = Array.from({ length: size }, (_, i) => sampleEvent(manifest, first + i));
      events.forEach((event, i) => featurizer.encode(event, rows, i * featurizer.width));
      const results = await session.run({
        [manifest.input.name]: new Tensor('float32', rows, [size, featurizer.width]),
      });
      const values = results[manifest.output.name]!.data as Float32Array;
      for (let i = 0; i < size; i++) {
        const answer = postprocess(output, values, i);
        const said = 'label' in answer ? answer.label : output.labels[0]!;
        let label = said;
        if (random() >= accuracy) {
          const others = output.labels.filter((other) => other !== said);
          label = others[Math.floor(random() * others.length)] ?? said;
        }
        yield { id: events[i]!.id, [labelField]: label };
      }
    }
  } finally {
    await session.release();
  }
}
