/**
 * The shipped configs stay valid and in step: the example worker config loads, and the copy in
 * the Kubernetes ConfigMap is the same file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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

describe('deploy/ monitoring', () => {
  test('the PrometheusRule carries deploy/prometheus/rules.yml', () => {
    const rules = parse(readFileSync('deploy/prometheus/rules.yml', 'utf8')) as { groups: unknown };
    const resource = parse(readFileSync('deploy/kubernetes/prometheus-rule.yaml', 'utf8')) as {
      kind: string;
      spec: { groups: unknown };
    };
    assert.equal(resource.kind, 'PrometheusRule');
    assert.deepEqual(resource.spec.groups, rules.groups);
  });

  test('promtool: the rules are valid and their unit tests pass', () => {
    const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    assert.equal(
      promtool.status,
      0,
      'promtool is missing: install Debian\'s "prometheus" package (npm run stack -- install does)',
    );
    const check = spawnSync('promtool', ['check', 'rules', 'deploy/prometheus/rules.yml'], {
      encoding: 'utf8',
    });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /SUCCESS: 5 rules found/);
    const unit = spawnSync('promtool', ['test', 'rules', 'deploy/prometheus/rules.test.yml'], {
      encoding: 'utf8',
    });
    assert.equal(unit.status, 0, unit.stdout + unit.stderr);
    const tests = readFileSync('deploy/prometheus/rules.test.yml', 'utf8').match(/^ {2}- name:/gm);
    process.stdout.write(`# promtool test rules: ${tests?.length ?? 0} rule tests passed\n`);
  });

  test('the Grafana dashboard is valid JSON whose every panel has a query', () => {
    const dashboard = JSON.parse(readFileSync('deploy/grafana/inference-worker.json', 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    assert.ok(dashboard.panels.length >= 10);
    for (const panel of dashboard.panels) assert.ok(panel.targets.length > 0, panel.title);
  });
});

describe('deploy/kubernetes overlays', () => {
  for (const overlay of ['sasl-tls', 'gpu']) {
    test(`${overlay}: every resource and patch it names exists and is a Kubernetes object`, () => {
      const dir = `deploy/kubernetes/overlays/${overlay}`;
      const kustomization = parse(readFileSync(`${dir}/kustomization.yaml`, 'utf8')) as {
        resources: string[];
        patches: { path?: string }[];
      };
      assert.ok(kustomization.resources.includes('../..'), 'built on the base');
      const files = [
        ...kustomization.resources.filter((resource) => resource !== '../..'),
        ...kustomization.patches.flatMap((patch) => (patch.path ? [patch.path] : [])),
      ];
      for (const file of files) {
        const object = parse(readFileSync(`${dir}/${file}`, 'utf8')) as Record<string, unknown>;
        assert.ok(object.apiVersion && object.kind, `${file} has apiVersion and kind`);
      }
    });
  }

  test('gpu: the worker asks for a GPU and the CUDA provider', () => {
    const text = readFileSync('deploy/kubernetes/overlays/gpu/gpu-worker.yaml', 'utf8');
    assert.match(text, /nvidia\.com\/gpu: 1/);
    assert.match(text, /INFER_MODEL__DEVICE\s+value: cuda/);
  });
});
