/**
 * The shipped configs stay valid and in step: the example worker config loads, and the copy in
 * the Kubernetes ConfigMap is the same file.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load-config.js';

const EXAMPLE = 'deploy/config/fraud-worker.yaml';

describe('deploy/ configs', () => {
  test('the example worker config validates, in repository mode', () => {
    const config = loadConfig(EXAMPLE, {});
    assert.equal(config.model.repository, 'models');
    assert.equal(config.model.name, 'fraud-mlp');
    assert.equal(config.kafka.groupId, 'fraud-scorer');
  });

  test('the ConfigMap carries the example config verbatim', () => {
    const configMap = parse(readFileSync('deploy/kubernetes/configmap.yaml', 'utf8')) as {
      data: Record<string, string>;
    };
    assert.equal(configMap.data['fraud-worker.yaml'], readFileSync(EXAMPLE, 'utf8'));
  });
});
