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
import { absoluteDestination, dockerignoreExcludes, execForm, parseCopy, parseDockerfile, type Stage } from "../support/dockerfile";
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
  const dockerignore = fs.readFileSync(path.join(REPO_ROOT, ".dockerignore"), "utf8");
  const rootPackage = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { workspaces: string[] };
  const workspaceDirs = new Map(
    rootPackage.workspaces.map((dir) => [(JSON.parse(fs.readFileSync(path.join(REPO_ROOT, dir, "package.json"), "utf8")) as { name: string }).name, dir]),
  );

  for (const program of ["aggregator", "sidecar", "injector"] as const) {
    const dockerfile = `${program}/Dockerfile`;
    const stages = (): Stage[] => parseDockerfile(fs.readFileSync(path.join(REPO_ROOT, dockerfile), "utf8"));
    const final = (): Stage => stages().at(-1)!;
    const packageName = `@logtally/${program}`;
    /** The program's workspace and the workspaces it depends on. */
    const workspaces = (): string[] => {
      const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, program, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
      return [
        program,
        ...Object.keys(manifest.dependencies ?? {})
          .filter((name) => workspaceDirs.has(name))
          .map((name) => workspaceDirs.get(name)!),
      ];
    };
    const copiesFrom = (stage: Stage) =>
      stage.instructions
        .filter((instruction) => instruction.keyword === "COPY" || instruction.keyword === "ADD")
        .map((instruction) => ({ instruction, copy: parseCopy(instruction) }));
    const runs = (stage: Stage): string[] => stage.instructions.filter((instruction) => instruction.keyword === "RUN").map((instruction) => instruction.args);
    /** The stage whose node_modules the final stage takes. */
    const dependencyStage = (): Stage => {
      const all = stages();
      const from = copiesFrom(final()).filter(({ copy }) => copy.sources.some((source) => /\/node_modules\/?$/.test(source)));
      assert.equal(from.length, 1, "node_modules are copied once");
      const stage = all.find((candidate) => candidate.name === from[0]!.copy.from || String(candidate.index) === from[0]!.copy.from);
      assert.ok(stage, `stage ${from[0]!.copy.from} is defined`);
      return stage;
    };

    it(`${dockerfile}: multi-stage, node:20-bookworm-slim as 65532, tini forwarding signals to node in exec form`, () => {
      const all = stages();
      assert.ok(all.length >= 2, "multi-stage");
      const last = final();
      assert.equal(last.base, "node:20-bookworm-slim");
      const users = last.instructions.filter((instruction) => instruction.keyword === "USER");
      assert.ok(users.length > 0, "the final stage sets USER");
      const user = users.at(-1)!.args;
      assert.match(user, /^\d+(:\d+)?$/, "a numeric user, so that runAsNonRoot can verify it");
      assert.equal(user.split(":")[0], "65532");
      const entrypoints = last.instructions.filter((instruction) => instruction.keyword === "ENTRYPOINT");
      assert.equal(entrypoints.length, 1);
      // The sidecar runs with the heap limits that bound its resident set.
      const nodeOptions = program === "sidecar" ? [...SIDECAR_NODE_OPTIONS] : [];
      assert.deepEqual(execForm(entrypoints[0]!), ["/usr/bin/tini", "--", "node", ...nodeOptions, `/app/${program}/dist/main.js`]);
      assert.equal(last.instructions.filter((instruction) => instruction.keyword === "CMD").length, 0, "arguments come from the pod spec");
      const install = runs(last).find((run) => /apt-get install/.test(run));
      assert.ok(install, "tini is installed with apt-get");
      assert.match(install, /apt-get update/);
      assert.match(install, /--no-install-recommends/);
      assert.match(install, /\btini\b/);
      assert.match(install, /rm -rf \/var\/lib\/apt\/lists/);
    });

    it(`${dockerfile}: production dependencies only, installed on the final stage's Debian and Node`, () => {
      const stage = dependencyStage();
      const [, major, release] = /^node:(\d+)-(\w+)$/.exec(stage.base) ?? [];
      const [, finalMajor, finalRelease] = /^node:(\d+)-(\w+)-slim$/.exec(final().base) ?? [];
      assert.deepEqual([major, release], [finalMajor, finalRelease], `native addons built on ${stage.base} run on ${final().base}`);
      const install = runs(stage).find((run) => /\bnpm ci\b/.test(run));
      assert.ok(install, `${stage.name ?? stage.index} runs npm ci`);
      assert.match(install, /--omit=dev\b/);
      assert.match(install, new RegExp(`--workspace[= ]${packageName.replace("/", "\\/")}\\b`));
      assert.match(install, /--include-workspace-root=false/);
      // npm ci needs the lockfile and every workspace's package.json.
      const copied = copiesFrom(stage).flatMap(({ copy }) => (copy.from ? [] : copy.sources));
      for (const file of ["package.json", "package-lock.json", ...rootPackage.workspaces.map((dir) => `${dir}/package.json`)])
        assert.ok(copied.includes(file), `${stage.name} copies ${file}`);
    });

    it(`${dockerfile}: the build stage generates and builds from a clean copy of the sources`, () => {
      const all = stages();
      const builds = all.filter((stage) => runs(stage).some((run) => /\bnpm run build\b/.test(run)));
      assert.equal(builds.length, 1, "one stage runs npm run build");
      const build = builds[0]!;
      const order = build.instructions.map((instruction) => instruction.args);
      const ci = order.findIndex((args) => /^npm ci\b/.test(args));
      const runBuild = order.findIndex((args) => /^npm run build\b/.test(args));
      assert.ok(ci >= 0 && ci < runBuild, "npm ci, then npm run build");
      const copied = copiesFrom(build)
        .filter(({ instruction }) => build.instructions.indexOf(instruction) < runBuild)
        .flatMap(({ copy }) => (copy.from ? [] : copy.sources.map((source) => source.replace(/\/$/, ""))));
      // turbo.json runs proto's generate (proto/src/gen) before build; tsconfig.base.json is every package's base.
      for (const needed of ["turbo.json", "tsconfig.base.json", "package-lock.json", ...workspaces()])
        assert.ok(copied.includes(needed), `build copies ${needed} before building`);
      for (const source of copied) assert.ok(fs.existsSync(path.join(REPO_ROOT, source)), `${source} exists in the repository`);
    });

    it(`${dockerfile}: the final stage takes only dist/ and production node_modules from other stages`, () => {
      const all = stages();
      const last = final();
      const names = new Set(all.slice(0, -1).flatMap((stage) => [stage.name, String(stage.index)]));
      const dependencies = dependencyStage();
      for (const stage of all) {
        for (const { instruction, copy } of copiesFrom(stage)) {
          if (copy.from === undefined) continue;
          assert.ok(
            names.has(copy.from) && all.findIndex((candidate) => candidate.name === copy.from || String(candidate.index) === copy.from) < stage.index,
            `line ${instruction.line}: --from=${copy.from} names an earlier stage`,
          );
        }
      }
      for (const { instruction, copy } of copiesFrom(last)) {
        if (copy.from === undefined) {
          for (const source of copy.sources) {
            assert.ok(fs.existsSync(path.join(REPO_ROOT, source)), `line ${instruction.line}: ${source} exists`);
            assert.ok(!dockerignoreExcludes(dockerignore, source.replace(/\/$/, "")), `line ${instruction.line}: ${source} is in the build context`);
            assert.ok(!/(^|\/)(src|dist|node_modules)(\/|$)/.test(source), `line ${instruction.line}: ${source} is not sources or build output`);
          }
          continue;
        }
        for (const source of copy.sources) {
          const fromDependencies = copy.from === dependencies.name || copy.from === String(dependencies.index);
          const allowed = fromDependencies ? /^\/app\/node_modules\/?$/ : /^\/app\/[a-z-]+\/dist\/?$/;
          assert.match(source, allowed, `line ${instruction.line}: ${source} from ${copy.from}`);
        }
      }
    });

    it(`${dockerfile}: its entrypoint exists after npm run build and what it loads is in the image`, () => {
      const last = final();
      const entry = execForm(last.instructions.find((instruction) => instruction.keyword === "ENTRYPOINT")!)!.at(-1)!;
      const inRepository = path.join(REPO_ROOT, path.posix.relative("/app", entry));
      assert.ok(fs.existsSync(inRepository), `${path.relative(REPO_ROOT, inRepository)} exists (run npm run build first)`);
      const destinations = copiesFrom(last).map(({ instruction, copy }) => ({
        from: copy.from,
        to: absoluteDestination(last, instruction, copy.destination).replace(/\/$/, ""),
      }));
      for (const workspace of workspaces()) {
        assert.ok(
          destinations.some(({ from, to }) => from && to === `/app/${workspace}/dist`),
          `/app/${workspace}/dist comes from the build`,
        );
        assert.ok(
          destinations.some(({ from, to }) => !from && (to === `/app/${workspace}` || to === `/app/${workspace}/package.json`)),
          `/app/${workspace}/package.json is in the image`,
        );
      }
      // @logtally/proto loads its .proto files at run time (PROTO_ROOT is the package's directory).
      assert.ok(
        destinations.some(({ from, to }) => !from && to === "/app/proto/logtally"),
        "the .proto files are in the image",
      );
      assert.ok(
        destinations.some(({ from, to }) => from && to === "/app/node_modules"),
        "production node_modules are in the image",
      );
      assert.ok(path.posix.dirname(entry).startsWith(`/app/${program}/dist`));
    });
  }

  it(".dockerignore keeps dependencies, build output and history out of the context, and the sources in", () => {
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

// The reader the image checks rely on, on a Dockerfile whose reading is known.
describe("Dockerfile reader", () => {
  it("joins continuations, skips comments and reads COPY flags and exec forms", () => {
    const [build, final] = parseDockerfile(
      [
        "# syntax=docker/dockerfile:1",
        "FROM node:20-bookworm AS build",
        "RUN a \\",
        "  # inside",
        "  && b",
        "FROM node:20-bookworm-slim",
        "WORKDIR /app",
        "COPY --from=build --chown=1:1 /app/x/dist/ x/dist/",
        'ENTRYPOINT ["tini", "--"]',
      ].join("\n"),
    );
    assert.equal(build!.name, "build");
    assert.deepEqual(
      build!.instructions.map((instruction) => instruction.args),
      ["a && b"],
    );
    const copy = parseCopy(final!.instructions[1]!);
    assert.deepEqual(copy, { from: "build", sources: ["/app/x/dist/"], destination: "x/dist/" });
    assert.equal(absoluteDestination(final!, final!.instructions[1]!, copy.destination), "/app/x/dist/");
    assert.deepEqual(execForm(final!.instructions[2]!), ["tini", "--"]);
  });
});
