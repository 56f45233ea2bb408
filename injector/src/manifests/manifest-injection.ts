import { InjectionError } from "../template/injection-error";
import { diffJson } from "../webhook/json-patch";
import type { JsonValue } from "../template/json-value";
import { ManifestError, parseManifestStream, renderManifestStream, type ManifestDocument } from "./manifest-stream";
import { injectPodTemplate } from "../template/pod-template";
import type { InjectionOptions } from "../template/sidecar-request";
import { YamlEditError, applyPatchToYaml } from "./yaml-patch";
import { findPodTemplates } from "../template/workloads";

/**
 * Adds the logtally sidecar to every pod template in a multi-document YAML
 * stream that opts in, and returns the stream. A document with nothing to
 * inject (a Service, a ConfigMap, a custom resource, comments, templates that
 * do not opt in or already have the sidecar) comes out byte for byte, so
 * running it on its own output changes nothing. Throws ManifestError naming
 * the document for bad YAML or a pod template that cannot be injected.
 */
export function injectManifests(text: string, options: InjectionOptions): string {
  const stream = parseManifestStream(text);
  const edited = new Set<ManifestDocument>();
  for (const document of stream.documents) {
    if (document.yaml.contents === null) continue;
    let object: JsonValue;
    try {
      object = document.yaml.toJS() as JsonValue;
    } catch (error) {
      // yaml refuses aliases that expand without bound (a "billion laughs").
      throw new ManifestError(document.number, (error as Error).message, undefined, { cause: error });
    }
    for (const location of findPodTemplates(object)) {
      try {
        const injection = injectPodTemplate(location.template, options, location);
        if (!injection.changed) continue;
        applyPatchToYaml(document.yaml, location.path, diffJson(location.template, injection.template));
        edited.add(document);
      } catch (error) {
        if (error instanceof InjectionError) throw new ManifestError(document.number, error.message, undefined, { cause: error });
        if (error instanceof YamlEditError) {
          throw new ManifestError(document.number, `${location.workload}: cannot edit the YAML: ${error.message}`, undefined, { cause: error });
        }
        throw error;
      }
    }
  }
  return renderManifestStream(stream, edited);
}
