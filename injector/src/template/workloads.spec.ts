import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import type { JsonObject } from "./json-value";
import { findPodTemplates } from "./workloads";

const TEMPLATE = { metadata: { labels: { app: "x" } }, spec: { containers: [{ name: "c", image: "i" }] } };

function workload(apiVersion: string, kind: string, spec: JsonObject, name = "w"): JsonObject {
  return { apiVersion, kind, metadata: { name }, spec };
}

describe("findPodTemplates", () => {
  for (const [apiVersion, kind] of [
    ["apps/v1", "Deployment"],
    ["apps/v1", "StatefulSet"],
    ["apps/v1", "DaemonSet"],
    ["apps/v1", "ReplicaSet"],
    ["batch/v1", "Job"],
  ] as const) {
    it(`${kind}: spec.template`, () => {
      const [location, ...rest] = findPodTemplates(workload(apiVersion, kind, { template: TEMPLATE }));
      assert.deepEqual(rest, []);
      assert.deepEqual(location?.path, ["spec", "template"]);
      assert.deepEqual(location?.template, TEMPLATE);
      assert.equal(location?.workload, `${kind}/w`);
    });
  }

  it("CronJob: spec.jobTemplate.spec.template", () => {
    const [location] = findPodTemplates(workload("batch/v1", "CronJob", { jobTemplate: { spec: { template: TEMPLATE } } }));
    assert.deepEqual(location?.path, ["spec", "jobTemplate", "spec", "template"]);
    assert.deepEqual(location?.template, TEMPLATE);
  });

  it("Pod: the object itself", () => {
    const pod = { apiVersion: "v1", kind: "Pod", ...TEMPLATE, metadata: { name: "p" } };
    const [location] = findPodTemplates(pod);
    assert.deepEqual(location?.path, []);
    assert.equal(location?.template, pod);
    assert.equal(location?.workload, "Pod/p");
  });

  it("List: the templates of its items, nested Lists included, with their paths", () => {
    const list = {
      apiVersion: "v1",
      kind: "List",
      items: [
        workload("v1", "Service", {}),
        workload("apps/v1", "Deployment", { template: TEMPLATE }, "a"),
        { apiVersion: "v1", kind: "List", items: [workload("batch/v1", "Job", { template: TEMPLATE }, "b")] },
      ],
    };
    const found = findPodTemplates(list).map(({ path, workload: name }) => ({ path, name }));
    assert.deepEqual(found, [
      { path: ["items", 1, "spec", "template"], name: "Deployment/a" },
      { path: ["items", 2, "items", 0, "spec", "template"], name: "Job/b" },
    ]);
  });

  it("nothing for other kinds, other API groups, or a workload without a template", () => {
    for (const object of [
      workload("v1", "Service", { template: TEMPLATE }),
      workload("batch.example.com/v1", "Job", { template: TEMPLATE }),
      workload("example.com/v1", "Deployment", { template: TEMPLATE }),
      workload("v1", "Deployment", { template: TEMPLATE }),
      workload("apps/v1", "Deployment", { replicas: 2 }),
      workload("apps/v1", "Deployment", { template: "not a map" }),
      { kind: "Deployment", spec: { template: TEMPLATE } },
      "a scalar",
      null,
      [workload("apps/v1", "Deployment", { template: TEMPLATE })],
    ]) {
      assert.deepEqual(findPodTemplates(object as JsonObject), [], JSON.stringify(object));
    }
  });

  it("a pod waiting for its generated name is named by its generateName", () => {
    const [location] = findPodTemplates({ apiVersion: "v1", kind: "Pod", metadata: { generateName: "web-5d8f-" }, spec: {} });
    assert.equal(location?.workload, "Pod/web-5d8f-*");
  });

  it("a StatefulSet's volumeClaimTemplates are per-pod volumes", () => {
    const [location] = findPodTemplates(
      workload("apps/v1", "StatefulSet", { template: TEMPLATE, volumeClaimTemplates: [{ metadata: { name: "data" } }, { metadata: { name: "wal" } }] }),
    );
    assert.deepEqual([...(location?.perPodVolumes ?? [])], ["data", "wal"]);
    const [deployment] = findPodTemplates(workload("apps/v1", "Deployment", { template: TEMPLATE, volumeClaimTemplates: [{ metadata: { name: "data" } }] }));
    assert.deepEqual([...(deployment?.perPodVolumes ?? [])], []);
  });

  it("a pod a StatefulSet created: the claims named <volume>-<pod> are per-pod volumes", () => {
    const pod = (ownerKind: string, controller: boolean): JsonObject => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "db-0", ownerReferences: [{ kind: ownerKind, name: "db", controller }] },
      spec: {
        containers: [],
        volumes: [
          { name: "data", persistentVolumeClaim: { claimName: "data-db-0" } },
          { name: "shared", persistentVolumeClaim: { claimName: "shared-logs" } },
          { name: "tmp", emptyDir: {} },
        ],
      },
    });
    assert.deepEqual([...(findPodTemplates(pod("StatefulSet", true))[0]?.perPodVolumes ?? [])], ["data"]);
    assert.deepEqual([...(findPodTemplates(pod("ReplicaSet", true))[0]?.perPodVolumes ?? [])], []);
    assert.deepEqual([...(findPodTemplates(pod("StatefulSet", false))[0]?.perPodVolumes ?? [])], []);
  });
});
