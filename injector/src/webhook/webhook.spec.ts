import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as crypto from "node:crypto";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { parse as parseYaml } from "yaml";
import type { JsonObject, JsonValue } from "../template/json-value";
import { applyJsonPatch, type PatchOperation } from "../testing/json-patch-applier";
import { INJECTOR_MAIN, RunningProcess, assertBuilt, programEnv, runToExit } from "@logtally/testing";
import { makeSelfSignedCert, type SelfSignedCert } from "../testing/self-signed-cert";

/**
 * `logtally-injector webhook` as a real process over real HTTPS on loopback,
 * with a throwaway self-signed certificate the client trusts.
 */

interface HttpsAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** A webhook process and a client that trusts its certificate. */
class Webhook {
  private constructor(
    readonly program: RunningProcess,
    readonly port: number,
    private readonly cert: SelfSignedCert,
  ) {}

  static async start(cert: SelfSignedCert, extraArgs: string[] = []): Promise<Webhook> {
    const program = RunningProcess.start(
      "webhook",
      INJECTOR_MAIN,
      ["webhook", "--listen", "127.0.0.1:0", "--tls-cert", cert.certFile, "--tls-key", cert.keyFile, "--log-level", "debug", ...extraArgs],
      { env: programEnv() },
    );
    const listening = await program.waitForLog("webhook listening");
    return new Webhook(program, Number(listening.port), cert);
  }

  /** Starts a request; the caller writes the body. */
  request(
    method: string,
    urlPath: string,
    headers: Record<string, string | number> = {},
  ): { request: ReturnType<typeof https.request>; answer: Promise<HttpsAnswer> } {
    let request!: ReturnType<typeof https.request>;
    const answer = new Promise<HttpsAnswer>((resolve, reject) => {
      request = https.request({ host: "127.0.0.1", port: this.port, method, path: urlPath, headers, ca: this.cert.certPem, agent: false }, (response) => {
        let body = "";
        response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode!, headers: response.headers, body }));
        response.on("error", reject);
      });
      request.on("error", reject);
    });
    return { request, answer };
  }

  /** Sends `body` in one go. */
  send(method: string, urlPath: string, body?: string | Buffer, headers: Record<string, string | number> = {}): Promise<HttpsAnswer> {
    const { request, answer } = this.request(method, urlPath, { "content-type": "application/json", ...headers });
    // A server that answers before reading the whole body may close the connection under the writer.
    request.on("error", () => undefined);
    request.end(body);
    return answer;
  }

  /** POSTs an AdmissionReview and returns its response, checking what every answer must hold. */
  async review(review: JsonObject): Promise<{ uid: string; allowed: boolean; patchType?: string; patch?: string; warnings?: string[] }> {
    const answer = await this.send("POST", "/mutate", JSON.stringify(review));
    assert.equal(answer.status, 200, answer.body);
    assert.match(String(answer.headers["content-type"]), /^application\/json/);
    const parsed = JSON.parse(answer.body) as { apiVersion: string; kind: string; response: { uid: string; allowed: boolean } };
    assert.equal(parsed.apiVersion, "admission.k8s.io/v1");
    assert.equal(parsed.kind, "AdmissionReview");
    assert.equal(parsed.response.allowed, true, "a pod is never refused");
    return parsed.response;
  }
}

let uidCount = 0;

/** An AdmissionReview v1 request for creating `pod`. */
function admissionReview(pod: JsonObject, { uid = `uid-${++uidCount}`, operation = "CREATE" } = {}): JsonObject {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid,
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      requestKind: { group: "", version: "v1", kind: "Pod" },
      requestResource: { group: "", version: "v1", resource: "pods" },
      namespace: "shop",
      operation,
      userInfo: { username: "system:serviceaccount:kube-system:replicaset-controller" },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: "meta.k8s.io/v1", kind: "CreateOptions" },
    },
  };
}

/** A pod as the API server sends it: defaulted fields included. */
function pod(name: string, annotations: Record<string, string>, spec: JsonObject = {}): JsonObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "shop", labels: { app: "web" }, annotations },
    spec: {
      containers: [
        {
          name: "web",
          image: "ghcr.io/example/web:2.3.1",
          imagePullPolicy: "IfNotPresent",
          terminationMessagePath: "/dev/termination-log",
          volumeMounts: [{ name: "kube-api-access-x1", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true }],
        },
      ],
      volumes: [{ name: "kube-api-access-x1", projected: { sources: [{ serviceAccountToken: { path: "token" } }] } }],
      restartPolicy: "Always",
      terminationGracePeriodSeconds: 30,
      dnsPolicy: "ClusterFirst",
      ...spec,
    },
  };
}

const OPT_IN = { "logtally.io/inject": "true" };

/** Decodes a response's base64 JSONPatch. */
function patchOf(response: { patchType?: string; patch?: string }): PatchOperation[] {
  assert.equal(response.patchType, "JSONPatch");
  return JSON.parse(Buffer.from(response.patch ?? "", "base64").toString("utf8")) as PatchOperation[];
}

/** What `logtally-injector inject` (the real CLI) makes of the same pod; JSON is YAML, so the pod goes in as it is. */
async function injectedByCli(podObject: JsonObject): Promise<JsonValue> {
  const { code, stdout, stderr } = await runToExit(INJECTOR_MAIN, ["inject"], { stdin: JSON.stringify(podObject) });
  assert.equal(code, 0, stderr);
  return parseYaml(stdout) as JsonValue;
}

function sourceIdOf(podObject: JsonValue): unknown {
  const initContainers = ((podObject as JsonObject).spec as JsonObject).initContainers as JsonObject[];
  const env = initContainers.find((container) => container.name === "logtally-sidecar")?.env as Array<{ name: string; value?: string }>;
  return env.find((variable) => variable.name === "LOGTALLY_SOURCE_ID")?.value;
}

describe("logtally-injector webhook", () => {
  let dir: string;
  let cert: SelfSignedCert;
  let webhook: Webhook;

  before(async () => {
    assertBuilt(INJECTOR_MAIN);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-webhook-"));
    cert = makeSelfSignedCert(dir);
    webhook = await Webhook.start(cert);
  });

  after(async () => {
    await webhook?.program.stop("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("GET /healthz answers 200", async () => {
    const answer = await webhook.send("GET", "/healthz");
    assert.equal(answer.status, 200);
    assert.equal(answer.body, "ok\n");
  });

  describe("an opted-in pod gets a patch that makes it what inject makes of it", () => {
    const cases: ReadonlyArray<[string, JsonObject, string]> = [
      ["a pod without a log volume (an emptyDir is added)", pod("web-7d9f-abcde", OPT_IN), "$(POD_NAMESPACE)/$(POD_NAME):/var/log/app/log.csv"],
      [
        "a replica writing to a shared claim (one source for all replicas)",
        pod("log-exporter-5c4-x2", OPT_IN, {
          containers: [{ name: "exporter", image: "e", volumeMounts: [{ name: "logs", mountPath: "/var/log/app" }] }],
          volumes: [{ name: "logs", persistentVolumeClaim: { claimName: "log-exporter-logs" } }],
        }),
        "$(POD_NAMESPACE)/pvc/log-exporter-logs/log.csv",
      ],
      [
        "annotation overrides",
        pod("custom", {
          ...OPT_IN,
          "logtally.io/source-id": "team-a/custom",
          "logtally.io/image": "mirror.example.com/s:1",
          "logtally.io/log-path": "/tmp/l/log.csv",
        }),
        "team-a/custom",
      ],
    ];
    for (const [description, podObject, sourceId] of cases) {
      it(description, async () => {
        const review = admissionReview(podObject);
        const response = await webhook.review(review);
        assert.equal(response.uid, (review.request as JsonObject).uid, "uid echoed");
        assert.equal(response.warnings, undefined);
        const patched = applyJsonPatch(podObject, patchOf(response));
        assert.deepEqual(patched, await injectedByCli(podObject));
        assert.equal(sourceIdOf(patched), sourceId);
      });
    }
  });

  it("a pod a StatefulSet created keeps its claim as its own source, as inject does for the StatefulSet", async () => {
    const podObject = pod("ledger-1", OPT_IN, {
      containers: [{ name: "ledger", image: "l", volumeMounts: [{ name: "journal", mountPath: "/var/log/app" }] }],
      volumes: [{ name: "journal", persistentVolumeClaim: { claimName: "journal-ledger-1" } }],
    });
    (podObject.metadata as JsonObject).ownerReferences = [{ apiVersion: "apps/v1", kind: "StatefulSet", name: "ledger", uid: "u", controller: true }];
    const response = await webhook.review(admissionReview(podObject));
    assert.equal(sourceIdOf(applyJsonPatch(podObject, patchOf(response))), "$(POD_NAMESPACE)/$(POD_NAME):/var/log/app/log.csv");
  });

  it("a pod not opted in is allowed without a patch", async () => {
    const response = await webhook.review(admissionReview(pod("plain", {}), { uid: "not-opted-in" }));
    assert.deepEqual(response, { uid: "not-opted-in", allowed: true });
  });

  it("an already injected pod is allowed without a patch", async () => {
    const podObject = pod("twice", OPT_IN);
    const once = applyJsonPatch(podObject, patchOf(await webhook.review(admissionReview(podObject)))) as JsonObject;
    const response = await webhook.review(admissionReview(once, { uid: "again" }));
    assert.deepEqual(response, { uid: "again", allowed: true });
  });

  it("an UPDATE is allowed without a patch", async () => {
    const response = await webhook.review(admissionReview(pod("updated", OPT_IN), { uid: "update", operation: "UPDATE" }));
    assert.deepEqual(response, { uid: "update", allowed: true });
  });

  it("a pod that cannot be injected is allowed without a patch, with a warning, and logged", async () => {
    const response = await webhook.review(admissionReview(pod("broken", { ...OPT_IN, "logtally.io/log-path": "log.csv" }), { uid: "broken" }));
    assert.deepEqual(response, {
      uid: "broken",
      allowed: true,
      warnings: ['logtally sidecar not injected: Pod/broken: logtally.io/log-path must be an absolute path, got "log.csv"'],
    });
    const logged = await webhook.program.waitForLog("sidecar not injected");
    assert.equal(logged.uid, "broken");
    assert.equal(logged.level, 40, "logged as a warning");
  });

  describe("a request that is not an AdmissionReview v1 is answered 400 with the reason", () => {
    for (const [description, body, reason] of [
      ["malformed JSON", '{"apiVersion": "admission.k8s.io/v1", "kind": ', /^the body is not JSON: /],
      [
        "an AdmissionReview v1beta1",
        JSON.stringify({ ...admissionReview(pod("p", OPT_IN)), apiVersion: "admission.k8s.io/v1beta1" }),
        /expected an AdmissionReview of apiVersion admission\.k8s\.io\/v1, got apiVersion "admission\.k8s\.io\/v1beta1"/,
      ],
      ["a Pod instead of a review", JSON.stringify(pod("p", OPT_IN)), /expected an AdmissionReview/],
      [
        "a review without a uid",
        JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: { object: pod("p", OPT_IN) } }),
        /has no uid/,
      ],
    ] as const) {
      it(description, async () => {
        const answer = await webhook.send("POST", "/mutate", body);
        assert.equal(answer.status, 400);
        assert.match(answer.body, reason);
      });
    }
  });

  describe("a body over 4 MiB is answered 413", () => {
    const oversized = Buffer.alloc(4 * 1024 * 1024 + 1, " ");
    it("when its Content-Length says so", async () => {
      const answer = await webhook.send("POST", "/mutate", oversized, { "content-length": oversized.length });
      assert.equal(answer.status, 413);
      assert.match(answer.body, /at most 4194304 bytes/);
    });

    it("when it is sent in chunks without a length", async () => {
      const { request, answer } = webhook.request("POST", "/mutate", { "content-type": "application/json", "transfer-encoding": "chunked" });
      request.on("error", () => undefined);
      for (let offset = 0; offset < oversized.length; offset += 512 * 1024) request.write(oversized.subarray(offset, offset + 512 * 1024));
      request.end();
      assert.equal((await answer).status, 413);
    });

    it("while a body of exactly 4 MiB is read", async () => {
      const review = JSON.stringify(admissionReview(pod("padded", {}), { uid: "padded" }));
      const padded = review + " ".repeat(4 * 1024 * 1024 - Buffer.byteLength(review));
      const answer = await webhook.send("POST", "/mutate", padded);
      assert.equal(answer.status, 200);
      assert.equal((JSON.parse(answer.body) as { response: { uid: string } }).response.uid, "padded");
    });
  });

  it("other paths and methods are refused", async () => {
    assert.equal((await webhook.send("GET", "/mutate")).status, 405);
    assert.equal((await webhook.send("POST", "/healthz", "{}")).status, 405);
    assert.equal((await webhook.send("GET", "/")).status, 404);
  });
});

/** SHA-256 fingerprint of the certificate the server at `port` presents to a new connection. */
function presentedCertificate(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.once("error", reject);
  });
}

function fingerprintOf(cert: SelfSignedCert): string {
  return new crypto.X509Certificate(cert.certPem).fingerprint256;
}

describe("logtally-injector webhook start and stop", () => {
  let dir: string;
  let cert: SelfSignedCert;
  before(() => {
    assertBuilt(INJECTOR_MAIN);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-webhook-stop-"));
    cert = makeSelfSignedCert(dir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("on SIGTERM it finishes the request in flight, then exits 0", async () => {
    const webhook = await Webhook.start(cert);
    try {
      const body = Buffer.from(JSON.stringify(admissionReview(pod("in-flight", OPT_IN), { uid: "in-flight" })));
      const { request, answer } = webhook.request("POST", "/mutate", { "content-type": "application/json", "content-length": body.length });
      request.write(body.subarray(0, 100));
      await webhook.program.waitForLog("request received");
      webhook.program.child.kill("SIGTERM");
      await webhook.program.waitForLog("signal received");
      request.end(body.subarray(100));
      const answered = await answer;
      assert.equal(answered.status, 200, answered.body);
      assert.equal((JSON.parse(answered.body) as { response: { uid: string; patch?: string } }).response.uid, "in-flight");
      assert.deepEqual(await webhook.program.exited, { code: 0, signal: null }, webhook.program.dump());
      assert.ok(
        webhook.program.logs.some((line) => line.msg === "webhook stopped"),
        webhook.program.dump(),
      );
    } finally {
      await webhook.program.stop("SIGKILL");
    }
  });

  for (const [description, args, message] of [
    ["without --tls-cert", ["webhook", "--tls-key", "KEY"], /--tls-cert is required/],
    [
      "with a certificate file that does not exist",
      ["webhook", "--tls-cert", "/nonexistent/tls.crt", "--tls-key", "KEY"],
      /--tls-cert: cannot read \/nonexistent\/tls\.crt/,
    ],
    ["with a key that is not PEM", ["webhook", "--tls-cert", "CERT", "--tls-key", "CERT"], /--tls-cert and --tls-key are not a PEM certificate and its key/],
    ["with a bad --listen", ["webhook", "--tls-cert", "CERT", "--tls-key", "KEY", "--listen", "8443"], /--listen: expected host:port/],
  ] as const) {
    it(`exits 2 ${description}`, async () => {
      const resolved = args.map((arg) => (arg === "CERT" ? cert.certFile : arg === "KEY" ? cert.keyFile : arg));
      const { code, stdout, stderr } = await runToExit(INJECTOR_MAIN, resolved);
      assert.equal(code, 2, stderr);
      assert.equal(stdout, "");
      assert.match(stderr, message);
      assert.match(stderr, /Try --help/);
    });
  }

  it("serves a renewed certificate without a restart, and keeps the one in use while the files are invalid", async () => {
    const live = fs.mkdtempSync(path.join(dir, "live-"));
    const first = makeSelfSignedCert(fs.mkdtempSync(path.join(dir, "first-")));
    const renewed = makeSelfSignedCert(fs.mkdtempSync(path.join(dir, "renewed-")));
    const files = { certFile: path.join(live, "tls.crt"), keyFile: path.join(live, "tls.key") };
    const install = (from: SelfSignedCert): void => {
      fs.copyFileSync(from.certFile, files.certFile);
      fs.copyFileSync(from.keyFile, files.keyFile);
    };
    install(first);
    const webhook = await Webhook.start({ ...files, certPem: first.certPem }, ["--tls-reload-interval-ms", "100"]);
    try {
      assert.equal(await presentedCertificate(webhook.port), fingerprintOf(first));

      fs.writeFileSync(files.certFile, "not a certificate\n");
      await webhook.program.waitForLog("credential files are not valid: keeping the credentials in use");
      assert.equal(await presentedCertificate(webhook.port), fingerprintOf(first));

      install(renewed);
      await webhook.program.waitForLog("credentials reloaded");
      assert.equal(await presentedCertificate(webhook.port), fingerprintOf(renewed));
    } finally {
      await webhook.program.stop("SIGKILL");
    }
  });

  it("--help documents its flags", async () => {
    const { code, stdout } = await runToExit(INJECTOR_MAIN, ["webhook", "--help"]);
    assert.equal(code, 0);
    for (const flag of ["listen", "tls-cert", "tls-key", "credentials-reload-ms", "image", "aggregator", "log-level"])
      assert.match(stdout, new RegExp(`\\n  --${flag} <value> `));
    assert.match(stdout, /Also read as --tls-reload-interval-ms \[LOGTALLY_WEBHOOK_TLS_RELOAD_INTERVAL_MS\], its earlier name\./);
  });
});
