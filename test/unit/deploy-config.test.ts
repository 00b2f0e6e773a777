/**
 * The shipped configs stay valid and in step: the example worker config loads, the copy in the
 * Kubernetes ConfigMap is the same file, and every manifest kustomize renders fits its schema.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { ensureKustomize } from '../../deploy/local/kustomize.js';
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
    const configMap = parse(readFileSync('deploy/kubernetes/base/configmap.yaml', 'utf8')) as {
      data: Record<string, string>;
    };
    assert.equal(configMap.data['fraud-worker.yaml'], readFileSync(EXAMPLE, 'utf8'));
  });
});

describe('deploy/ monitoring', () => {
  test('the PrometheusRule carries deploy/prometheus/rules.yml', () => {
    const rules = parse(readFileSync('deploy/prometheus/rules.yml', 'utf8')) as { groups: unknown };
    const resource = parse(readFileSync('deploy/kubernetes/base/prometheus-rule.yaml', 'utf8')) as {
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
    assert.match(check.stdout, /SUCCESS: 11 rules found/);
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

/** The module of kubernetes-models (or its CRD packages) that holds `apiVersion`/`kind`'s schema. */
function modelModule(apiVersion: string, kind: string): string {
  if (apiVersion.startsWith('keda.sh/')) return `@kubernetes-models/keda/${apiVersion}/${kind}`;
  if (apiVersion.startsWith('monitoring.coreos.com/')) {
    return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  }
  return `kubernetes-models/${apiVersion}/${kind}`;
}

/** `kustomize build dir`, as `kubectl apply -k dir` would render it. */
function kustomizeBuild(dir: string): Record<string, unknown>[] {
  const build = spawnSync(KUSTOMIZE, ['build', dir], { encoding: 'utf8' });
  assert.equal(build.error, undefined, `kustomize: ${String(build.error)}`);
  assert.equal(build.status, 0, `kustomize build ${dir}: ${build.stderr}`);
  return parseAllDocuments(build.stdout).map((doc) => doc.toJSON() as Record<string, unknown>);
}

const KUSTOMIZE = process.env.KUSTOMIZE ?? 'kustomize';
// The test needs kustomize, so it builds it (from the Go module proxy) when it is missing.
if (!process.env.KUSTOMIZE) ensureKustomize();

/**
 * Every manifest as kustomize renders it, validated against the real schemas: Kubernetes' own
 * OpenAPI (kubernetes-models) for core kinds, and the KEDA and Prometheus Operator CRDs' schemas.
 */
describe('deploy/kubernetes: kustomize build, every object valid against its schema', () => {
  const builds = {
    base: ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'PrometheusRule', 'ScaledObject'],
    'overlays/gpu': ['Deployment'],
    'overlays/sasl-tls': ['Deployment', 'ScaledObject', 'TriggerAuthentication'],
  };
  for (const [dir, mustHave] of Object.entries(builds)) {
    test(`${dir}: builds, and each object validates`, async () => {
      const objects = kustomizeBuild(`deploy/kubernetes/${dir}`);
      const kinds = objects.map((object) => String(object.kind));
      for (const kind of mustHave) assert.ok(kinds.includes(kind), `${dir} renders a ${kind}`);
      for (const object of objects) {
        const { apiVersion, kind } = object as { apiVersion: string; kind: string };
        const module = (await import(modelModule(apiVersion, kind))) as Record<
          string,
          new (data: unknown) => { validate(): void }
        >;
        const Model = module[kind] ?? module.default!;
        assert.doesNotThrow(() => new Model(object).validate(), `${dir}: ${apiVersion} ${kind}`);
      }
      process.stdout.write(`# ${dir}: ${objects.length} objects valid (${kinds.join(', ')})\n`);
    });
  }

  test('a wrong field type is refused (the validation can fail)', async () => {
    const [deployment] = kustomizeBuild('deploy/kubernetes/base').filter(
      (object) => object.kind === 'Deployment',
    );
    const spec = deployment!.spec as { replicas?: unknown };
    spec.replicas = 'two';
    const { Deployment } = await import('kubernetes-models/apps/v1/Deployment');
    assert.throws(() => new Deployment(deployment as never).validate(), /replicas must be integer/);
  });
});

describe('deploy/kubernetes overlays', () => {
  test('gpu: the worker asks for a GPU and the CUDA provider', () => {
    const text = readFileSync('deploy/kubernetes/overlays/gpu/gpu-worker.yaml', 'utf8');
    assert.match(text, /nvidia\.com\/gpu: 1/);
    assert.match(text, /INFER_MODEL__DEVICE\s+value: cuda/);
  });
});
