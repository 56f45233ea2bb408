import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import type { KubernetesObject } from "./kubernetes";

/** The kubectl that renders kustomizations (`kubectl kustomize`, kustomize v5). */
export const KUBECTL = "kubectl";

/** Generous bound for one render; never a measurement. */
const RENDER_TIMEOUT_MS = 20_000;

const KUBECTL_MISSING =
  "kubectl was not found on PATH. The manifest tests render manifests/ with `kubectl kustomize` " +
  "(kubectl 1.27 or newer, which embeds kustomize v5): install kubectl (https://kubernetes.io/docs/tasks/tools/) " +
  "and put it on PATH.";

/** Renders the kustomization in `dir` with `kubectl kustomize` into its objects. */
export function renderKustomization(dir: string): Promise<KubernetesObject[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(KUBECTL, ["kustomize", dir], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`kubectl kustomize ${dir} still running after ${RENDER_TIMEOUT_MS} ms`));
    }, RENDER_TIMEOUT_MS);
    child.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error.code === "ENOENT" ? new Error(KUBECTL_MISSING) : error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`kubectl kustomize ${dir} exited with ${code}:\n${stderr}`));
        return;
      }
      try {
        resolve(parseObjects(stdout, `kubectl kustomize ${dir}`));
      } catch (error) {
        reject(error as Error);
      }
    });
  });
}

/** Parses a multi-document YAML stream into objects, rejecting anything that is not one. */
export function parseObjects(text: string, source: string): KubernetesObject[] {
  const objects: KubernetesObject[] = [];
  for (const document of YAML.parseAllDocuments(text)) {
    if (document.errors.length > 0) throw new Error(`${source}: ${document.errors.map((error) => error.message).join("; ")}`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== "object" || Array.isArray(value)) throw new Error(`${source}: a document is not an object`);
    objects.push(value as KubernetesObject);
  }
  return objects;
}

/**
 * A kustomization in a new temporary directory that includes `resources` and
 * `components` (absolute directories, referred to by relative paths as
 * kustomize requires). Returns its directory; the caller removes it.
 */
export function writeOverlay({ resources, components }: { resources: string[]; components: string[] }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "logtally-overlay-"));
  const relative = (target: string): string => path.relative(dir, target).split(path.sep).join("/");
  const kustomization = {
    apiVersion: "kustomize.config.k8s.io/v1beta1",
    kind: "Kustomization",
    resources: resources.map(relative),
    components: components.map(relative),
  };
  fs.writeFileSync(path.join(dir, "kustomization.yaml"), YAML.stringify(kustomization));
  return dir;
}
