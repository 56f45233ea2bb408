import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { AdmissionReviewError, admissionReviewResponse, parseAdmissionReview, type AdmissionRequest } from "./admission-review";
import type { JsonObject } from "../template/json-value";
import { admitPod } from "./pod-admission";
import { injectPodTemplate } from "../template/pod-template";
import { applyJsonPatch } from "../testing/json-patch-applier";

const DEFAULTS = { image: "ghcr.io/logtally/logtally-sidecar:0.1.0", aggregator: "logtally-aggregator.logtally.svc:50051" };

function pod(annotations: Record<string, string> = { "logtally.io/inject": "true" }): JsonObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web-0", namespace: "shop", annotations },
    spec: { containers: [{ name: "web", image: "web:1" }], terminationGracePeriodSeconds: 30 },
  };
}

function request(object: JsonObject | undefined, overrides: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return { uid: "u-1", operation: "CREATE", resource: "/pods", subResource: undefined, namespace: "shop", object, ...overrides };
}

describe("parseAdmissionReview", () => {
  const review = (body: unknown): string => JSON.stringify(body);
  const valid = {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: { uid: "abc", operation: "CREATE", resource: { group: "", version: "v1", resource: "pods" }, namespace: "shop", object: pod() },
  };

  it("reads uid, operation, resource, namespace and object", () => {
    assert.deepEqual(parseAdmissionReview(review(valid)), {
      uid: "abc",
      operation: "CREATE",
      resource: "/pods",
      subResource: undefined,
      namespace: "shop",
      object: pod(),
    });
  });

  for (const [description, body, message] of [
    ["not JSON", "{not json", "the body is not JSON"],
    ["a JSON array", "[]", "expected an AdmissionReview of apiVersion admission.k8s.io/v1"],
    ["the v1beta1 version", review({ ...valid, apiVersion: "admission.k8s.io/v1beta1" }), 'got apiVersion "admission.k8s.io/v1beta1"'],
    ["another kind", review({ ...valid, kind: "Pod" }), 'kind "Pod"'],
    ["no request", review({ ...valid, request: undefined }), "has no request"],
    ["no uid", review({ ...valid, request: { ...valid.request, uid: "" } }), "has no uid"],
  ] as const) {
    it(`refuses ${description}`, () => {
      assert.throws(
        () => parseAdmissionReview(body),
        (error: unknown) => error instanceof AdmissionReviewError && error.message.includes(message),
      );
    });
  }
});

describe("admissionReviewResponse", () => {
  it("always allows, echoes the uid, and carries a base64 JSONPatch only when there is one", () => {
    const patch = [{ op: "add" as const, path: "/metadata/labels", value: { a: "b" } }];
    assert.deepEqual(admissionReviewResponse("u", { patch, warnings: ["w"] }), {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: "u", allowed: true, patchType: "JSONPatch", patch: Buffer.from(JSON.stringify(patch)).toString("base64"), warnings: ["w"] },
    });
    assert.deepEqual(admissionReviewResponse("u", { patch: [] }), {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: "u", allowed: true },
    });
  });
});

describe("admitPod", () => {
  it("patches an opted-in pod into exactly what injection makes of it", () => {
    const admission = admitPod(request(pod()), DEFAULTS);
    assert.equal(admission.outcome, "injected");
    const expected = injectPodTemplate(pod(), { ...DEFAULTS, all: false }, { workload: "Pod/web-0", perPodVolumes: new Set() });
    assert.ok(expected.changed);
    assert.deepEqual(applyJsonPatch(pod(), admission.outcome === "injected" ? admission.patch : []), expected.template);
  });

  it("leaves alone what is not a pod being created, or does not opt in", () => {
    assert.deepEqual(admitPod(request(pod(), { operation: "UPDATE" }), DEFAULTS), { outcome: "skipped", reason: "operation UPDATE" });
    assert.deepEqual(admitPod(request(pod(), { resource: "apps/deployments" }), DEFAULTS), { outcome: "skipped", reason: "not a pod" });
    assert.deepEqual(admitPod(request(pod(), { subResource: "ephemeralcontainers" }), DEFAULTS), { outcome: "skipped", reason: "not a pod" });
    assert.deepEqual(admitPod(request(undefined), DEFAULTS), { outcome: "skipped", reason: "no pod in the request" });
    assert.deepEqual(admitPod(request(pod({})), DEFAULTS), { outcome: "skipped", reason: "not opted in" });
  });

  it("finds a pod sent without its kind", () => {
    const bare = pod();
    delete bare.kind;
    delete bare.apiVersion;
    assert.equal(admitPod(request(bare), DEFAULTS).outcome, "injected");
  });

  it("refuses a pod that cannot be injected with a warning naming it, and no patch", () => {
    const admission = admitPod(request(pod({ "logtally.io/inject": "true", "logtally.io/log-path": "log.csv" })), DEFAULTS);
    assert.deepEqual(admission, {
      outcome: "refused",
      pod: "Pod/web-0",
      warning: 'logtally sidecar not injected: Pod/web-0: logtally.io/log-path must be an absolute path, got "log.csv"',
    });
  });
});
