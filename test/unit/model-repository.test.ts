/**
 * "latest" is the highest complete version, with versions compared numeric-aware: digit runs
 * as numbers, so 1.10 comes after 1.9 and 10 after 9; folders missing a file do not count.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ModelRepository, compareVersions } from '../../src/model/model-repository.js';

describe('model versions', () => {
  test('compare numeric-aware', () => {
    const sorted = ['1.10', '10', 'v10', '1.9', '2', '9', 'v2', '1', '2024-01-15', '2024-01-09'];
    assert.deepEqual(sorted.sort(compareVersions), [
      '1',
      '1.9',
      '1.10',
      '2',
      '9',
      '10',
      '2024-01-09',
      '2024-01-15',
      'v2',
      'v10',
    ]);
    assert.equal(compareVersions('1.0', '1.0'), 0);
  });

  test('"latest" is the highest complete version', () => {
    const root = mkdtempSync(join(tmpdir(), 'repo-'));
    for (const version of ['1.9', '1.10', '1.11']) {
      mkdirSync(join(root, 'm', version), { recursive: true });
      writeFileSync(join(root, 'm', version, 'model.json'), '{}');
      if (version !== '1.11') writeFileSync(join(root, 'm', version, 'model.onnx'), '');
    }
    const repository = new ModelRepository(root, 'm');
    assert.deepEqual(repository.versions(), ['1.9', '1.10'], '1.11 lacks its model.onnx');
    assert.equal(repository.resolve('latest').version, '1.10');
  });
});
