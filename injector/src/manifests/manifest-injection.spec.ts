import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { isJsonObject, type JsonObject, type JsonValue } from "../template/json-value";
import { injectManifests } from "./manifest-injection";
import { ManifestError } from "./manifest-stream";
import type { InjectionOptions } from "../template/sidecar-request";

/**
 * Golden tests: each testdata/<case>.input.yaml is injected and compared byte
 * for byte with testdata/<case>.golden.yaml. LOGTALLY_UPDATE_GOLDEN=1 rewrites
 * the goldens; the expectations below, written from the contract, check what
 * a golden says independently of how it was produced.
 */

const TESTDATA = path.join(__dirname, "testdata");
const UPDATE_GOLDEN = process.env.LOGTALLY_UPDATE_GOLDEN === "1";

const DEFAULTS: InjectionOptions = {
  all: false,
  image: "ghcr.io/logtally/logtally-sidecar:0.1.0",
  aggregator: "logtally-aggregator.logtally.svc:50051",
};

/** What the contract says one injected pod template must look like. */
interface Injected {
  /** `Kind/name` of the object holding the template. */
  readonly workload: string;
  readonly sourceId: string;
  readonly logPath?: string;
  readonly image?: string;
  readonly aggregator?: string;
  /** The sidecar's read-only mount of the volume holding the file. */
  readonly mount: JsonObject;
  /** Set when no volume held the file: the directory the added emptyDir is mounted at in every app container. */
  readonly emptyDirAt?: string;
  /** Set when the sidecar presents a token: the Secret mounted for it. */
  readonly tokenSecret?: string;
  readonly graceSeconds: number;
}

const POD_ID = (file: string): string => `$(POD_NAMESPACE)/$(POD_NAME):${file}`;
const ADDED_LOG_VOLUME = { name: "logtally-log", mountPath: "/var/log/app", readOnly: true };

const CASES: ReadonlyArray<{ name: string; options?: Partial<InjectionOptions>; injected: readonly Injected[] }> = [
  {
    name: "deployment-emptydir",
    injected: [
      {
        workload: "Deployment/web",
        sourceId: POD_ID("/var/log/app/log.csv"),
        mount: { name: "app-logs", mountPath: "/var/log/app", readOnly: true },
        graceSeconds: 40,
      },
    ],
  },
  {
    name: "deployment-no-volume",
    injected: [{ workload: "Deployment/api", sourceId: POD_ID("/var/log/app/log.csv"), mount: ADDED_LOG_VOLUME, emptyDirAt: "/var/log/app", graceSeconds: 40 }],
  },
  {
    name: "log-exporter-pvc",
    injected: [
      {
        workload: "Deployment/log-exporter",
        sourceId: "$(POD_NAMESPACE)/pvc/log-exporter-logs/log.csv",
        mount: { name: "logs", mountPath: "/var/log/app", readOnly: true },
        graceSeconds: 60,
      },
    ],
  },
  {
    name: "subpath",
    injected: [
      {
        workload: "Deployment/reporter",
        sourceId: "$(POD_NAMESPACE)/pvc/team-logs/reporter/daily/log.csv",
        logPath: "/srv/logs/daily/log.csv",
        mount: { name: "shared", mountPath: "/srv/logs/", subPath: "reporter", readOnly: true },
        graceSeconds: 40,
      },
    ],
  },
  {
    name: "statefulset",
    injected: [
      {
        workload: "StatefulSet/ledger",
        sourceId: POD_ID("/var/lib/ledger/log.csv"),
        logPath: "/var/lib/ledger/log.csv",
        mount: { name: "journal", mountPath: "/var/lib/ledger", readOnly: true },
        graceSeconds: 40,
      },
    ],
  },
  {
    name: "daemonset",
    injected: [
      {
        workload: "DaemonSet/node-agent",
        sourceId: POD_ID("/var/log/agent/log.csv"),
        logPath: "/var/log/agent/log.csv",
        mount: { name: "host-logs", mountPath: "/var/log/agent", readOnly: true },
        graceSeconds: 40,
      },
    ],
  },
  {
    name: "job",
    injected: [
      { workload: "Job/nightly-report", sourceId: POD_ID("/var/log/app/log.csv"), mount: ADDED_LOG_VOLUME, emptyDirAt: "/var/log/app", graceSeconds: 40 },
    ],
  },
  {
    name: "cronjob",
    injected: [
      {
        workload: "CronJob/hourly-rollup",
        sourceId: POD_ID("/work/out/log.csv"),
        logPath: "/work/out/log.csv",
        mount: { name: "work", mountPath: "/work", readOnly: true },
        graceSeconds: 40,
      },
    ],
  },
  {
    name: "pod-overrides",
    injected: [
      {
        workload: "Pod/debug-shell",
        sourceId: "team-a/debug-shell",
        logPath: "/data/out/log.csv",
        image: "registry.example.com/logtally-sidecar:dev",
        aggregator: "aggregator.example.com:6000",
        mount: { name: "data", mountPath: "/data", readOnly: true },
        graceSeconds: 40,
      },
    ],
  },
  {
    name: "all-flag",
    options: { all: true },
    injected: [
      { workload: "Deployment/billing", sourceId: POD_ID("/var/log/app/log.csv"), mount: ADDED_LOG_VOLUME, emptyDirAt: "/var/log/app", graceSeconds: 40 },
      {
        workload: "ReplicaSet/billing-canary",
        sourceId: POD_ID("/var/log/app/log.csv"),
        mount: ADDED_LOG_VOLUME,
        emptyDirAt: "/var/log/app",
        graceSeconds: 40,
      },
    ],
  },
  {
    name: "list",
    injected: [
      { workload: "Deployment/search", sourceId: POD_ID("/var/log/app/log.csv"), mount: ADDED_LOG_VOLUME, emptyDirAt: "/var/log/app", graceSeconds: 40 },
      {
        workload: "ReplicaSet/indexer",
        sourceId: POD_ID("/var/log/indexer/log.csv"),
        logPath: "/var/log/indexer/log.csv",
        mount: { name: "logs", mountPath: "/var/log/indexer", readOnly: true },
        graceSeconds: 40,
      },
    ],
  },
  {
    name: "token-secret",
    options: { tokenSecret: "logtally-token" },
    injected: [
      {
        workload: "Deployment/checkout",
        sourceId: POD_ID("/var/log/app/log.csv"),
        mount: { name: "logs", mountPath: "/var/log/app", readOnly: true },
        tokenSecret: "logtally-token",
        graceSeconds: 40,
      },
      {
        workload: "Deployment/payments",
        sourceId: POD_ID("/var/log/app/log.csv"),
        mount: ADDED_LOG_VOLUME,
        emptyDirAt: "/var/log/app",
        tokenSecret: "payments-logtally-token",
        graceSeconds: 40,
      },
    ],
  },
  { name: "pass-through", injected: [] },
];

function readCase(name: string, suffix: "input" | "golden"): string {
  return fs.readFileSync(path.join(TESTDATA, `${name}.${suffix}.yaml`), "utf8");
}

/** The sidecar container as the contract spells it out. */
function contractSidecar(expected: Injected): JsonObject {
  const healthz = { path: "/healthz", port: "lt-sidecar-http" };
  return {
    name: "logtally-sidecar",
    image: expected.image ?? DEFAULTS.image,
    restartPolicy: "Always",
    env: [
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
      { name: "LOGTALLY_FILE", value: expected.logPath ?? "/var/log/app/log.csv" },
      { name: "LOGTALLY_AGGREGATOR", value: expected.aggregator ?? DEFAULTS.aggregator },
      { name: "LOGTALLY_SOURCE_ID", value: expected.sourceId },
      { name: "LOGTALLY_METRICS_LISTEN", value: "0.0.0.0:9465" },
      ...(expected.tokenSecret ? [{ name: "LOGTALLY_TOKEN_FILE", value: "/var/run/secrets/logtally/token" }] : []),
    ],
    ports: [{ name: "lt-sidecar-http", containerPort: 9465 }],
    startupProbe: { httpGet: healthz, periodSeconds: 2, failureThreshold: 30 },
    livenessProbe: { httpGet: healthz, periodSeconds: 10, failureThreshold: 3 },
    resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 65532,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
    volumeMounts: [expected.mount, ...(expected.tokenSecret ? [{ name: "logtally-token", mountPath: "/var/run/secrets/logtally", readOnly: true }] : [])],
  };
}

/** Every pod template in a stream, by `Kind/name`: found here without the code under test. */
function podTemplates(text: string): Map<string, JsonObject> {
  const templates = new Map<string, JsonObject>();
  const visit = (object: JsonValue): void => {
    if (!isJsonObject(object)) return;
    if (object.kind === "List") return void (object.items as JsonValue[]).forEach(visit);
    const spec = object.spec as JsonObject | undefined;
    const template =
      object.kind === "Pod"
        ? object
        : object.kind === "CronJob"
          ? ((spec?.jobTemplate as JsonObject | undefined)?.spec as JsonObject | undefined)?.template
          : spec?.template;
    if (isJsonObject(template) && typeof object.apiVersion === "string" && /^(v1|apps\/v1|batch\/v1)$/.test(object.apiVersion)) {
      templates.set(`${String(object.kind)}/${String((object.metadata as JsonObject).name)}`, template);
    }
  };
  for (const document of parseAllDocuments(text)) visit(document.toJS() as JsonValue);
  return templates;
}

/**
 * Checks an injected template against the contract, then undoes exactly the
 * changes the contract allows and checks that what is left is the input.
 */
function assertInjectedAsContracted(before: JsonObject, after: JsonObject, expected: Injected): void {
  const undone = structuredClone(after) as { metadata: { labels: JsonObject }; spec: JsonObject };
  const spec = undone.spec;
  const initContainers = spec.initContainers as JsonObject[];
  assert.deepEqual(initContainers.at(-1), contractSidecar(expected), `${expected.workload}: the sidecar`);
  assert.equal(undone.metadata.labels["logtally.io/sidecar"], "true", `${expected.workload}: the sidecar label`);
  assert.equal(spec.terminationGracePeriodSeconds, expected.graceSeconds, `${expected.workload}: terminationGracePeriodSeconds`);

  delete undone.metadata.labels["logtally.io/sidecar"];
  if (Object.keys(undone.metadata.labels).length === 0 && !isJsonObject((before.metadata as JsonObject | undefined)?.labels)) {
    delete (undone.metadata as Partial<typeof undone.metadata>).labels;
  }
  initContainers.pop();
  if (initContainers.length === 0 && !Array.isArray((before.spec as JsonObject).initContainers)) delete spec.initContainers;
  if ((before.spec as JsonObject).terminationGracePeriodSeconds === undefined) delete spec.terminationGracePeriodSeconds;
  else spec.terminationGracePeriodSeconds = (before.spec as JsonObject).terminationGracePeriodSeconds!;
  if (expected.tokenSecret !== undefined) {
    const volumes = spec.volumes as JsonObject[];
    assert.deepEqual(
      volumes.at(-1),
      { name: "logtally-token", secret: { secretName: expected.tokenSecret, items: [{ key: "token", path: "token" }] } },
      `${expected.workload}: the token's Secret`,
    );
    volumes.pop();
    if (volumes.length === 0 && !Array.isArray((before.spec as JsonObject).volumes)) delete spec.volumes;
  }
  if (expected.emptyDirAt !== undefined) {
    const volumes = spec.volumes as JsonObject[];
    assert.deepEqual(volumes.at(-1), { name: "logtally-log", emptyDir: {} }, `${expected.workload}: the added emptyDir`);
    volumes.pop();
    if (volumes.length === 0 && !Array.isArray((before.spec as JsonObject).volumes)) delete spec.volumes;
    const hadMounts = ((before.spec as JsonObject).containers as JsonObject[]).map((container) => Array.isArray(container.volumeMounts));
    (spec.containers as JsonObject[]).forEach((container, index) => {
      const mounts = container.volumeMounts as JsonObject[];
      assert.deepEqual(mounts.at(-1), { name: "logtally-log", mountPath: expected.emptyDirAt }, `${expected.workload}: container ${index} mounts the emptyDir`);
      mounts.pop();
      if (mounts.length === 0 && !hadMounts[index]) delete container.volumeMounts;
    });
  }
  assert.deepEqual(undone, before, `${expected.workload}: changed beyond what the contract adds`);
}

describe("inject: golden files", () => {
  for (const { name, options, injected } of CASES) {
    it(name, () => {
      const input = readCase(name, "input");
      const output = injectManifests(input, { ...DEFAULTS, ...options });
      if (UPDATE_GOLDEN) fs.writeFileSync(path.join(TESTDATA, `${name}.golden.yaml`), output);
      assert.equal(output, readCase(name, "golden"), `${name}: output differs from the golden (LOGTALLY_UPDATE_GOLDEN=1 rewrites it)`);

      const before = podTemplates(input);
      const after = podTemplates(output);
      assert.deepEqual([...after.keys()], [...before.keys()], "the same pod templates");
      for (const [workload, template] of after) {
        const expected = injected.find((candidate) => candidate.workload === workload);
        if (expected) assertInjectedAsContracted(before.get(workload)!, template, expected);
        else assert.deepEqual(template, before.get(workload), `${workload} is not to be injected`);
      }
      for (const { workload } of injected) assert.ok(after.has(workload), `${workload} is in the golden`);

      for (const comment of input.split("\n").filter((line) => line.includes("#"))) {
        const text = comment.slice(comment.indexOf("#"));
        assert.ok(output.includes(text), `comment kept: ${text}`);
      }
    });
  }
});

describe("inject: a second run changes nothing, byte for byte", () => {
  for (const { name, options } of CASES) {
    it(name, () => {
      const once = injectManifests(readCase(name, "input"), { ...DEFAULTS, ...options });
      assert.equal(injectManifests(once, { ...DEFAULTS, ...options }), once);
    });
  }
});

describe("inject: objects that are not injected come out byte for byte", () => {
  it("Service, ConfigMap, a CustomResourceDefinition and a custom resource, a comments-only document, a template not opted in", () => {
    const input = readCase("pass-through", "input");
    assert.equal(injectManifests(input, DEFAULTS), input);
  });

  it("untouched documents keep their bytes when another document in the stream is injected", () => {
    const input = readCase("log-exporter-pvc", "input");
    const claim = input.slice(0, input.indexOf("---\n"));
    const output = injectManifests(input, DEFAULTS);
    assert.ok(output.startsWith(`${claim}---\n`), "the PersistentVolumeClaim document changed");
    assert.notEqual(output, input);
  });

  for (const [description, text] of [
    ["an empty stream", ""],
    ["a stream of only comments", "# nothing to see\n"],
    ["a scalar document", "just a string\n"],
    ["a document that is a list", "- apiVersion: v1\n  kind: Pod\n"],
    ["an object without a kind", "apiVersion: v1\nmetadata: {name: x}\n"],
  ] as const) {
    it(description, () => assert.equal(injectManifests(text, { ...DEFAULTS, all: true }), text));
  }

  it("a workload without a pod template", () => {
    const text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: partial\nspec:\n  replicas: 3\n";
    assert.equal(injectManifests(text, { ...DEFAULTS, all: true }), text);
  });
});

describe("inject: bad input is refused with the document's position", () => {
  /** Asserts injectManifests throws a ManifestError whose message includes every fragment. */
  const assertRefused = (text: string, fragments: readonly string[], options: InjectionOptions = DEFAULTS): ManifestError => {
    let refused: ManifestError | undefined;
    assert.throws(
      () => injectManifests(text, options),
      (error: unknown) => {
        assert.ok(error instanceof ManifestError, `expected a ManifestError, got ${String(error)}`);
        for (const fragment of fragments) assert.ok(error.message.includes(fragment), `${JSON.stringify(error.message)} includes ${JSON.stringify(fragment)}`);
        refused = error;
        return true;
      },
    );
    return refused!;
  };

  it("unparsable YAML in the second document names document 2 and the line and column", () => {
    const text = [
      "apiVersion: v1",
      "kind: Service",
      "metadata: {name: a}",
      "---",
      "apiVersion: v1",
      "kind: ConfigMap",
      "data:",
      "\tkey: value",
      "---",
      "kind: Pod",
      "",
    ];
    const error = assertRefused(text.join("\n"), ["document 2, line 8:1: Tabs are not allowed as indentation"]);
    assert.equal(error.documentNumber, 2);
    assert.deepEqual(error.position, { line: 8, column: 1 });
  });

  it("a mapping nested where it cannot be names its line and column", () => {
    const text = "a: 1\n---\nb: 1\n  c: 2\n";
    const error = assertRefused(text, ["document 2, line 3:4"]);
    assert.deepEqual(error.position, { line: 3, column: 4 });
  });

  it("a duplicate key is bad YAML", () => {
    assertRefused("kind: Pod\nkind: Service\n", ["document 1, line 2:1"]);
  });

  it("a relative log path names the workload and the annotation", () => {
    const text = fs
      .readFileSync(path.join(TESTDATA, "deployment-emptydir.input.yaml"), "utf8")
      .replace('logtally.io/inject: "true"', 'logtally.io/inject: "true"\n        logtally.io/log-path: logs/log.csv');
    const error = assertRefused(`apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n${text}`, [
      "document 2: Deployment/web: logtally.io/log-path must be an absolute path",
    ]);
    assert.equal(error.position, undefined);
  });

  it("a pod template with no containers", () => {
    const text =
      "apiVersion: batch/v1\nkind: Job\nmetadata: {name: empty}\nspec:\n  template:\n    metadata:\n      annotations: {logtally.io/inject: 'true'}\n    spec:\n      containers: []\n";
    assertRefused(text, ["document 1: Job/empty: the pod template has no containers"]);
  });

  it("an unquoted boolean annotation", () => {
    const text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    logtally.io/inject: true\nspec:\n  containers: [{name: c, image: i}]\n";
    assertRefused(text, ["Pod/p: logtally.io/inject must be a string"]);
  });

  it("a template that must be edited through a YAML alias", () => {
    const text = [
      "x-containers: &app",
      "  - name: app",
      "    image: busybox",
      "apiVersion: v1",
      "kind: Pod",
      "metadata:",
      "  name: aliased",
      "  annotations: {logtally.io/inject: 'true'}",
      "spec:",
      "  containers: *app",
      "",
    ].join("\n");
    assertRefused(text, ["document 1: Pod/aliased: cannot edit the YAML", "spec.containers"]);
  });

  it("aliases that expand without bound", () => {
    const lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"];
    for (let level = 1; level < 8; level++)
      lines.push(
        `a${level}: &a${level} [${Array(10)
          .fill(`*a${level - 1}`)
          .join(", ")}]`,
      );
    assertRefused(`${lines.join("\n")}\n`, ["document 1:", "alias"]);
  });
});

describe("inject: edited documents keep their layout", () => {
  it("lists written level with their key stay so, including the sidecar's", () => {
    const output = injectManifests(readCase("statefulset", "input"), DEFAULTS);
    assert.match(output, /\n {6}initContainers:\n {6}- name: migrate\n/);
    assert.match(output, /\n {6}- name: logtally-sidecar\n/);
    assert.doesNotMatch(output, /\n {8}- name: logtally-sidecar\n/);
  });

  it("lists indented under their key stay so", () => {
    const output = injectManifests(readCase("deployment-emptydir", "input"), DEFAULTS);
    assert.match(output, /\n {6}initContainers:\n {8}- name: logtally-sidecar\n/);
  });

  it("four-space indentation is kept", () => {
    const input =
      "apiVersion: v1\nkind: Pod\nmetadata:\n    name: wide\n    annotations:\n        logtally.io/inject: 'true'\nspec:\n    containers:\n        -   name: c\n            image: i\n";
    const output = injectManifests(input, DEFAULTS);
    assert.match(output, /\nmetadata:\n {4}name: wide\n/);
    assert.match(output, /\n {4}initContainers:\n/);
  });

  it("a long string on one line is not folded", () => {
    const command = `echo ${"x".repeat(120)}`;
    const input = `apiVersion: v1\nkind: Pod\nmetadata:\n  name: long\n  annotations:\n    logtally.io/inject: "true"\nspec:\n  containers:\n    - name: c\n      image: i\n      command: ["sh", "-c", "${command}"]\n`;
    assert.ok(injectManifests(input, DEFAULTS).includes(`"${command}"`));
  });
});
