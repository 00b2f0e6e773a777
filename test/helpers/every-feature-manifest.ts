import { modelManifestSchema, type ModelManifest } from '../../src/model/model-manifest.js';

/**
 * A model.json with one feature of each type and rule (required, default, range that poisons,
 * category, vector), and one named like an Object.prototype key: for property-based tests.
 */
export const everyFeatureManifest: ModelManifest = modelManifestSchema.parse({
  name: 'fuzz',
  version: '1',
  input: { name: 'x', type: 'float32' },
  output: { name: 'y', kind: 'classification', labels: ['a', 'b'] },
  features: [
    { name: 'amount', type: 'number', required: true, min: 0 },
    { name: 'count', type: 'number', default: 7, min: -10, max: 10, outOfRange: 'poison' },
    { name: 'flag', type: 'boolean' },
    { name: 'channel', type: 'category', categories: ['web', 'pos'] },
    { name: 'vec', type: 'vector', length: 3 },
    { name: 'constructor', type: 'number' },
  ],
});
