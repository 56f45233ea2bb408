import { checkIdentifier, type Hello__Output, type Welcome } from "@logtally/proto";
import type { CountView } from "../store/count-view";
import { checkFileId, generationId, parseGenerationId } from "./ledger";

/** What is wrong with a Hello's fields, or undefined when nothing is. */
export function checkHello(hello: Hello__Output): string | undefined {
  return (
    checkIdentifier("source_id", hello.sourceId, { required: true }) ??
    checkFileId(hello.fileId) ??
    checkIdentifier("sidecar_id", hello.sidecarId, { required: false }) ??
    checkIdentifier("supersede_generation", hello.supersedeGeneration, { required: false })
  );
}

/**
 * The Welcome for a Hello: the generation a sidecar must ship for a file,
 * which is the file's latest epoch, or the next one when the sidecar reports
 * the latest rewritten in place. The next epoch is not stored until its first
 * batch (at offset 0) is applied, so two sidecars reporting the same rewrite
 * agree on it.
 */
export function welcomeFor(view: CountView, hello: Hello__Output, heartbeatIntervalMillis: number): Welcome {
  const { sourceId, fileId } = hello;
  const source = view.allSources().get(sourceId);
  const sourceFacts = {
    sourceCreatedUnixMillis: source?.createdMs ?? 0,
    sourceLatestFileId: (source && parseGenerationId(source.latestGeneration)?.fileId) ?? "",
    sourceLatestFileBirthUnixMillis: (source && view.generation(sourceId, source.latestGeneration)?.fileBirthMs) ?? 0,
    sourceLatestFilePath: (source && view.generation(sourceId, source.latestGeneration)?.filePath) ?? "",
    heartbeatIntervalMillis,
    // This aggregator counts Hello.spec's metric: a sidecar with a spec may ship.
    countingSpecs: true,
  };
  const latestEpoch = view.latestEpoch(sourceId, fileId);
  const latest = latestEpoch > 0 ? generationId(fileId, latestEpoch) : undefined;
  if (latest === undefined || hello.supersedeGeneration === latest) {
    const generation = generationId(fileId, latestEpoch + 1);
    return { sourceId, fileId, generation, committedOffset: 0, anchor: "", known: false, fileBirthUnixMillis: 0, ...sourceFacts };
  }
  const state = view.generation(sourceId, latest);
  return {
    sourceId,
    fileId,
    generation: latest,
    committedOffset: state?.committedOffset ?? 0,
    anchor: state?.anchor ?? "",
    known: true,
    fileBirthUnixMillis: state?.fileBirthMs ?? 0,
    ...sourceFacts,
  };
}
