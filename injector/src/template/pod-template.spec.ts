import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { InjectionError } from "./injection-error";
import type { JsonObject } from "./json-value";
import { injectPodTemplate, type PodTemplateContext, type PodTemplateInjection } from "./pod-template";
import type { InjectionOptions } from "./sidecar-request";

const OPTIONS: InjectionOptions = { all: false, image: "ghcr.io/logtally/logtally-sidecar:0.1.0", aggregator: "logtally-aggregator.logtally.svc:50051" };
const CONTEXT: PodTemplateContext = { workload: "Deployment/web", perPodVolumes: new Set() };

/** A pod template that opts in; `annotations` are added, `spec` members replace the default ones. */
function template({ annotations = {}, spec = {} }: { annotations?: Record<string, unknown>; spec?: Record<string, unknown> } = {}): JsonObject {
  return {
    metadata: { labels: { app: "web" }, annotations: { "logtally.io/inject": "true", ...annotations } },
    spec: {
      containers: [{ name: "web", image: "web:1", volumeMounts: [{ name: "logs", mountPath: "/var/log/app" }] }],
      volumes: [{ name: "logs", emptyDir: {} }],
      ...spec,
    },
  } as JsonObject;
}

/** Injects and fails the test unless the template changed. */
function injected(
  input: JsonObject,
  options: InjectionOptions = OPTIONS,
  context: PodTemplateContext = CONTEXT,
): Extract<PodTemplateInjection, { changed: true }> {
  const result = injectPodTemplate(input, options, context);
  assert.ok(result.changed, `not injected: ${JSON.stringify(result)}`);
  return result;
}

/** The injected sidecar of a template. */
function sidecarOf(result: Extract<PodTemplateInjection, { changed: true }>): JsonObject {
  const spec = result.template.spec as { initContainers: JsonObject[] };
  const sidecar = spec.initContainers.find((container) => container.name === "logtally-sidecar");
  assert.ok(sidecar, "no logtally-sidecar init container");
  return sidecar;
}

function envOf(sidecar: JsonObject, name: string): unknown {
  return (sidecar.env as Array<{ name: string; value?: string }>).find((variable) => variable.name === name)?.value;
}

describe("which pod templates are injected", () => {
  it('one annotated logtally.io/inject: "true"', () => {
    assert.equal(injectPodTemplate(template(), OPTIONS, CONTEXT).changed, true);
  });

  it("one without the annotation only with --all", () => {
    const unannotated = template();
    delete (unannotated.metadata as { annotations?: unknown }).annotations;
    assert.deepEqual(injectPodTemplate(unannotated, OPTIONS, CONTEXT), { changed: false, reason: "not opted in" });
    assert.equal(injectPodTemplate(unannotated, { ...OPTIONS, all: true }, CONTEXT).changed, true);
  });

  it('one annotated "false" never, even with --all', () => {
    const optedOut = template({ annotations: { "logtally.io/inject": "false" } });
    assert.deepEqual(injectPodTemplate(optedOut, { ...OPTIONS, all: true }, CONTEXT), { changed: false, reason: "not opted in" });
  });

  it("one that already has the sidecar is left alone, whatever else it says", () => {
    const once = injected(template()).template;
    assert.deepEqual(injectPodTemplate(once, OPTIONS, CONTEXT), { changed: false, reason: "already injected" });
    const annotations = (once.metadata as { annotations: JsonObject }).annotations;
    annotations["logtally.io/log-path"] = "relative/log.csv";
    assert.deepEqual(injectPodTemplate(once, OPTIONS, CONTEXT), { changed: false, reason: "already injected" });
  });
});

describe("the injected template", () => {
  it("is a copy: the input is not modified", () => {
    const input = template({ spec: { containers: [{ name: "web", image: "web:1" }], volumes: [] } });
    const before = structuredClone(input);
    injected(input);
    assert.deepEqual(input, before);
  });

  it("keeps the app's labels and annotations and adds the sidecar label", () => {
    const metadata = injected(template()).template.metadata as { labels: JsonObject; annotations: JsonObject };
    assert.deepEqual(metadata.labels, { app: "web", "logtally.io/sidecar": "true" });
    assert.deepEqual(metadata.annotations, { "logtally.io/inject": "true" });
  });

  it("appends the sidecar after the init containers there are", () => {
    const result = injected(template({ spec: { initContainers: [{ name: "migrate", image: "m:1" }] } }));
    const names = (result.template.spec as { initContainers: JsonObject[] }).initContainers.map((container) => container.name);
    assert.deepEqual(names, ["migrate", "logtally-sidecar"]);
  });

  for (const [before, after] of [
    [undefined, 40],
    [0, 40],
    [30, 40],
    [40, 40],
    [45, 45],
    [600, 600],
  ] as const) {
    it(`raises terminationGracePeriodSeconds ${String(before)} to ${after} at least`, () => {
      const result = injected(template({ spec: before === undefined ? {} : { terminationGracePeriodSeconds: before } }));
      assert.equal((result.template.spec as JsonObject).terminationGracePeriodSeconds, after);
    });
  }

  it("takes image, aggregator and log path from the annotations over the options", () => {
    const sidecar = sidecarOf(
      injected(
        template({
          annotations: {
            "logtally.io/image": "registry.example.com/sidecar:dev",
            "logtally.io/aggregator": "[::1]:7000",
            "logtally.io/log-path": "/var/log/app/other.csv",
          },
        }),
      ),
    );
    assert.equal(sidecar.image, "registry.example.com/sidecar:dev");
    assert.equal(envOf(sidecar, "LOGTALLY_AGGREGATOR"), "[::1]:7000");
    assert.equal(envOf(sidecar, "LOGTALLY_FILE"), "/var/log/app/other.csv");
  });

  it("takes image and aggregator from the options otherwise", () => {
    const sidecar = sidecarOf(injected(template(), { ...OPTIONS, image: "mirror.example.com/sidecar:1", aggregator: "agg.example.com:1234" }));
    assert.equal(sidecar.image, "mirror.example.com/sidecar:1");
    assert.equal(envOf(sidecar, "LOGTALLY_AGGREGATOR"), "agg.example.com:1234");
  });

  it("mounts no token unless asked; asked, mounts the Secret read-only and points LOGTALLY_TOKEN_FILE at its key", () => {
    const plain = injected(template());
    assert.equal(envOf(sidecarOf(plain), "LOGTALLY_TOKEN_FILE"), undefined);
    assert.deepEqual(
      (plain.template.spec as { volumes: JsonObject[] }).volumes.map((volume) => volume.name),
      ["logs"],
    );

    const fromOption = injected(template(), { ...OPTIONS, tokenSecret: "logtally-token" });
    const fromAnnotation = injected(template({ annotations: { "logtally.io/token-secret": "team-token" } }), { ...OPTIONS, tokenSecret: "logtally-token" });
    for (const [result, secretName] of [
      [fromOption, "logtally-token"],
      [fromAnnotation, "team-token"],
    ] as const) {
      const sidecar = sidecarOf(result);
      assert.equal(envOf(sidecar, "LOGTALLY_TOKEN_FILE"), "/var/run/secrets/logtally/token");
      assert.deepEqual((sidecar.volumeMounts as JsonObject[]).at(-1), { name: "logtally-token", mountPath: "/var/run/secrets/logtally", readOnly: true });
      assert.deepEqual((result.template.spec as { volumes: JsonObject[] }).volumes.at(-1), {
        name: "logtally-token",
        secret: { secretName, items: [{ key: "token", path: "token" }] },
      });
      // Only the sidecar sees the token.
      const app = (result.template.spec as { containers: JsonObject[] }).containers[0]!;
      assert.ok(!(app.volumeMounts as JsonObject[]).some((mount) => mount.name === "logtally-token"));
    }
  });
});

describe("what the sidecar counts", () => {
  it("sets no counting variable without counting annotations: the default, log_host_job_count", () => {
    const env = (sidecarOf(injected(template())).env as Array<{ name: string }>).map((variable) => variable.name);
    assert.deepEqual(
      env.filter((name) => /^LOGTALLY_(FORMAT|DELIMITER|METRIC|LABELS|WHERE)$/.test(name)),
      [],
    );
  });

  it("passes the counting annotations on as the sidecar's variables, a regex's $( kept from Kubernetes' expansion", () => {
    const sidecar = sidecarOf(
      injected(
        template({
          annotations: {
            "logtally.io/format": "jsonl",
            "logtally.io/metric": "app_events",
            "logtally.io/labels": "level=.level,service=.kubernetes.labels.app",
            "logtally.io/where": ".stream=stderr\n.msg=~.*$(oops).*",
          },
        }),
      ),
    );
    assert.equal(envOf(sidecar, "LOGTALLY_FORMAT"), "jsonl");
    assert.equal(envOf(sidecar, "LOGTALLY_METRIC"), "app_events");
    assert.equal(envOf(sidecar, "LOGTALLY_LABELS"), "level=.level,service=.kubernetes.labels.app");
    assert.equal(envOf(sidecar, "LOGTALLY_WHERE"), ".stream=stderr\n.msg=~.*$$(oops).*");
    assert.equal(envOf(sidecar, "LOGTALLY_DELIMITER"), undefined);
  });

  for (const [annotations, message] of [
    [{ "logtally.io/format": "xml" }, /logtally\.io\/format must be csv or jsonl, got "xml"/],
    [{ "logtally.io/delimiter": ";;" }, /logtally\.io\/delimiter must be one printable ASCII character/],
    [{ "logtally.io/delimiter": "\\t" }, /logtally\.io\/delimiter must be one printable ASCII character/],
    [{ "logtally.io/metric": "logtally_rows" }, /logtally\.io\/metric: metric name logtally_rows starts with logtally_/],
    [{ "logtally.io/metric": "http_requests_total" }, /ends with _total/],
    [{ "logtally.io/metric": "m", "logtally.io/labels": "method=2,method=3" }, /logtally\.io\/labels: label name method is given twice/],
    [{ "logtally.io/metric": "m", "logtally.io/labels": "status-code=5" }, /"status-code" is not a Prometheus label name/],
    [{ "logtally.io/metric": "m", "logtally.io/labels": "method" }, /"method" is not NAME=FIELD/],
    [{ "logtally.io/labels": "method=2" }, /labels other than host and job_name need logtally\.io\/metric too/],
    [{ "logtally.io/where": ".level=~(unclosed" }, /logtally\.io\/where: "\.level=~\(unclosed": Invalid regular expression/],
  ] as const) {
    it(`refuses ${JSON.stringify(annotations)}, naming the annotation`, () => {
      assert.throws(
        () => injectPodTemplate(template({ annotations }), OPTIONS, CONTEXT),
        (error: unknown) => error instanceof InjectionError && message.test(error.message),
      );
    });
  }
});

describe("the volume the sidecar mounts and the source id", () => {
  /** The sidecar's mount and source id for a template whose only container has `mounts` and the pod `volumes`. */
  const located = (mounts: JsonObject[], volumes: JsonObject[], logPath = "/var/log/app/log.csv", context = CONTEXT) => {
    const result = injected(
      template({ annotations: { "logtally.io/log-path": logPath }, spec: { containers: [{ name: "app", image: "a", volumeMounts: mounts }], volumes } }),
      OPTIONS,
      context,
    );
    const sidecar = sidecarOf(result);
    return { mount: (sidecar.volumeMounts as JsonObject[])[0], sourceId: result.sourceId, env: envOf(sidecar, "LOGTALLY_SOURCE_ID") };
  };
  const claim = (name: string, claimName: string): JsonObject => ({ name, persistentVolumeClaim: { claimName } });

  it("a file in the pod's emptyDir is the pod's own source", () => {
    const { mount, sourceId, env } = located([{ name: "logs", mountPath: "/var/log/app" }], [{ name: "logs", emptyDir: {} }]);
    assert.deepEqual(mount, { name: "logs", mountPath: "/var/log/app", readOnly: true });
    assert.equal(sourceId, "$(POD_NAMESPACE)/$(POD_NAME):/var/log/app/log.csv");
    assert.equal(env, sourceId);
  });

  it("a file on a claim is the claim's: the path inside the volume", () => {
    const { sourceId } = located([{ name: "data", mountPath: "/data" }], [claim("data", "logs")], "/data/app/log.csv");
    assert.equal(sourceId, "$(POD_NAMESPACE)/pvc/logs/app/log.csv");
  });

  it("a claim mounted at / holds every path", () => {
    const { sourceId } = located([{ name: "data", mountPath: "/" }], [claim("data", "everything")]);
    assert.equal(sourceId, "$(POD_NAMESPACE)/pvc/everything/var/log/app/log.csv");
  });

  it("a subPath is kept in the mount and leads the path inside the claim", () => {
    const { mount, sourceId } = located([{ name: "data", mountPath: "/var/log", subPath: "team/./a" }], [claim("data", "shared")]);
    assert.deepEqual(mount, { name: "data", mountPath: "/var/log", subPath: "team/./a", readOnly: true });
    assert.equal(sourceId, "$(POD_NAMESPACE)/pvc/shared/team/a/app/log.csv");
  });

  it("a subPath mount of the file itself", () => {
    const { mount, sourceId } = located([{ name: "data", mountPath: "/var/log/app/log.csv", subPath: "logs/web.csv" }], [claim("data", "shared")]);
    assert.deepEqual(mount, { name: "data", mountPath: "/var/log/app/log.csv", subPath: "logs/web.csv", readOnly: true });
    assert.equal(sourceId, "$(POD_NAMESPACE)/pvc/shared/logs/web.csv");
  });

  it("a subPathExpr is kept, and Kubernetes expands it in the source id too", () => {
    const { mount, sourceId } = located([{ name: "data", mountPath: "/var/log/app", subPathExpr: "$(POD_NAME)" }], [claim("data", "shared")]);
    assert.deepEqual(mount, { name: "data", mountPath: "/var/log/app", subPathExpr: "$(POD_NAME)", readOnly: true });
    assert.equal(sourceId, "$(POD_NAMESPACE)/pvc/shared/$(POD_NAME)/log.csv");
  });

  it("the longest mountPath holding the file wins, compared by whole path segments", () => {
    const mounts = [
      { name: "root", mountPath: "/var" },
      { name: "near-miss", mountPath: "/var/log/ap" },
      { name: "deeper", mountPath: "/var/log/app/archive" },
    ];
    const volumes = [claim("root", "r"), claim("near-miss", "n"), claim("deeper", "d")];
    assert.equal(located(mounts, volumes).mount?.name, "root");
    const withLog = [...mounts, { name: "log", mountPath: "/var/log/" }];
    const { mount, sourceId } = located(withLog, [...volumes, claim("log", "l")]);
    assert.equal(mount?.name, "log");
    assert.equal(sourceId, "$(POD_NAMESPACE)/pvc/l/app/log.csv");
  });

  it("a mount of any app container counts; on a tie the first one wins", () => {
    const result = injected(
      template({
        spec: {
          containers: [
            { name: "first", image: "a" },
            { name: "second", image: "b", volumeMounts: [{ name: "b", mountPath: "/var/log/app" }] },
            { name: "third", image: "c", volumeMounts: [{ name: "c", mountPath: "/var/log/app" }] },
          ],
          volumes: [claim("b", "claim-b"), claim("c", "claim-c")],
        },
      }),
    );
    assert.equal(result.sourceId, "$(POD_NAMESPACE)/pvc/claim-b/log.csv");
  });

  it("a StatefulSet's claim template is per pod: the pod's own source", () => {
    const context = { workload: "StatefulSet/db", perPodVolumes: new Set(["data"]) };
    const { mount, sourceId } = located([{ name: "data", mountPath: "/var/log/app" }], [], "/var/log/app/log.csv", context);
    assert.deepEqual(mount, { name: "data", mountPath: "/var/log/app", readOnly: true });
    assert.equal(sourceId, "$(POD_NAMESPACE)/$(POD_NAME):/var/log/app/log.csv");
  });

  it("the source-id annotation wins, verbatim", () => {
    const result = injected(template({ annotations: { "logtally.io/source-id": "team-a/$(POD_NAME)" }, spec: { volumes: [claim("logs", "c")] } }));
    assert.equal(result.sourceId, "team-a/$(POD_NAME)");
    assert.equal(envOf(sidecarOf(result), "LOGTALLY_SOURCE_ID"), "team-a/$(POD_NAME)");
  });

  it("no volume holding the file: an emptyDir mounted in every app container", () => {
    const result = injected(
      template({
        annotations: { "logtally.io/log-path": "/logs/out/log.csv" },
        spec: {
          containers: [
            { name: "a", image: "a", volumeMounts: [{ name: "cfg", mountPath: "/logs/out/config" }] },
            { name: "b", image: "b" },
          ],
          volumes: [{ name: "cfg", configMap: { name: "cfg" } }],
        },
      }),
    );
    const spec = result.template.spec as { containers: JsonObject[]; volumes: JsonObject[] };
    assert.deepEqual(spec.volumes, [
      { name: "cfg", configMap: { name: "cfg" } },
      { name: "logtally-log", emptyDir: {} },
    ]);
    assert.deepEqual(spec.containers[0]?.volumeMounts, [
      { name: "cfg", mountPath: "/logs/out/config" },
      { name: "logtally-log", mountPath: "/logs/out" },
    ]);
    assert.deepEqual(spec.containers[1]?.volumeMounts, [{ name: "logtally-log", mountPath: "/logs/out" }]);
    assert.deepEqual(sidecarOf(result).volumeMounts, [{ name: "logtally-log", mountPath: "/logs/out", readOnly: true }]);
    assert.equal(result.sourceId, "$(POD_NAMESPACE)/$(POD_NAME):/logs/out/log.csv");
  });
});

describe("templates that cannot be injected name the workload and the problem", () => {
  const cases: ReadonlyArray<[string, JsonObject, string]> = [
    ["a relative log path", template({ annotations: { "logtally.io/log-path": "log.csv" } }), 'logtally.io/log-path must be an absolute path, got "log.csv"'],
    ["a log path naming a directory", template({ annotations: { "logtally.io/log-path": "/var/log/app/" } }), "logtally.io/log-path must name a file"],
    ["a log path with ..", template({ annotations: { "logtally.io/log-path": "/var/log/../app/log.csv" } }), "logtally.io/log-path must be a normalised path"],
    [
      "a log path with a control character",
      template({ annotations: { "logtally.io/log-path": "/var/log/app/\u0007.csv" } }),
      "logtally.io/log-path contains control characters",
    ],
    ["an empty log path", template({ annotations: { "logtally.io/log-path": "" } }), "logtally.io/log-path is required"],
    [
      "an inject value other than true or false",
      template({ annotations: { "logtally.io/inject": "yes" } }),
      'logtally.io/inject must be "true" or "false", got "yes"',
    ],
    ["an unquoted boolean", template({ annotations: { "logtally.io/inject": true } }), "logtally.io/inject must be a string"],
    ["an aggregator without a port", template({ annotations: { "logtally.io/aggregator": "aggregator" } }), "logtally.io/aggregator: expected host:port"],
    ["an aggregator on port 0", template({ annotations: { "logtally.io/aggregator": "aggregator:0" } }), "logtally.io/aggregator: port 0"],
    ["an image with a space", template({ annotations: { "logtally.io/image": "my image" } }), "logtally.io/image must be an image reference"],
    ["an empty source id", template({ annotations: { "logtally.io/source-id": "" } }), "logtally.io/source-id is required"],
    ["a source id with a newline", template({ annotations: { "logtally.io/source-id": "a\nb" } }), "logtally.io/source-id contains control characters"],
    ["no containers", template({ spec: { containers: [] } }), "the pod template has no containers"],
    ["no containers key", template({ spec: { containers: undefined } }), "the pod template has no containers"],
    ["containers without names", template({ spec: { containers: [{ image: "x" }] } }), "spec.containers must be a list of containers, each with a name"],
    ["no spec", { metadata: { annotations: { "logtally.io/inject": "true" } } }, "the pod template has no spec"],
    [
      "an app container named like the sidecar",
      template({ spec: { containers: [{ name: "logtally-sidecar", image: "x" }] } }),
      'an app container is already named "logtally-sidecar"',
    ],
    ["a mount of a volume not defined", template({ spec: { volumes: [] } }), 'container "web" mounts volume "logs", which spec.volumes does not define'],
    [
      "a claim without a claimName",
      template({ spec: { volumes: [{ name: "logs", persistentVolumeClaim: {} }] } }),
      'volume "logs" has no persistentVolumeClaim.claimName',
    ],
    [
      "a malformed mount",
      template({ spec: { containers: [{ name: "web", image: "x", volumeMounts: [{ name: "logs" }] }] } }),
      "every volumeMount needs a name and a mountPath",
    ],
    [
      "a log file in / with no volume",
      template({ annotations: { "logtally.io/log-path": "/log.csv" }, spec: { containers: [{ name: "web", image: "x" }] } }),
      "an emptyDir cannot be mounted at /",
    ],
    [
      "an emptyDir to add whose name is taken",
      template({ spec: { containers: [{ name: "web", image: "x" }], volumes: [{ name: "logtally-log", emptyDir: {} }] } }),
      'a volume "logtally-log" exists',
    ],
    [
      "a grace period that is not a number",
      template({ spec: { terminationGracePeriodSeconds: "30" } }),
      "spec.terminationGracePeriodSeconds must be a whole number",
    ],
    [
      "a token Secret name that is not a DNS subdomain",
      template({ annotations: { "logtally.io/token-secret": "Token_Secret" } }),
      "logtally.io/token-secret must be the name of a Secret",
    ],
    [
      "a token volume whose name is taken",
      template({
        annotations: { "logtally.io/token-secret": "token" },
        spec: {
          volumes: [
            { name: "logs", emptyDir: {} },
            { name: "logtally-token", emptyDir: {} },
          ],
        },
      }),
      'a volume "logtally-token" exists already',
    ],
    ["annotations that are not a map", { metadata: { annotations: ["logtally.io/inject"] }, spec: {} }, "metadata.annotations must be a map"],
    [
      "a source id longer than the protocol allows",
      template({ annotations: { "logtally.io/log-path": `/var/log/app/${"x".repeat(500)}.csv` } }),
      "longer than 512 characters",
    ],
  ];
  for (const [description, input, message] of cases) {
    it(description, () => {
      assert.throws(
        () => injectPodTemplate(input, { ...OPTIONS, all: true }, CONTEXT),
        (error: unknown) => {
          assert.ok(error instanceof InjectionError, `expected an InjectionError, got ${String(error)}`);
          assert.ok(error.message.startsWith("Deployment/web: "), error.message);
          assert.ok(error.message.includes(message), `${JSON.stringify(error.message)} includes ${JSON.stringify(message)}`);
          assert.equal(error.workload, "Deployment/web");
          return true;
        },
      );
    });
  }
});
