import type { LiveSource, SourceActivity } from "../ingest/source-activity";
import type { Store } from "../store/store";

/** One source as an operator sees it: durable progress and the live view together. */
export interface SourceView {
  readonly sourceId: string;
  /** The generation most recently advanced; empty before the first batch is applied. */
  readonly generation: string;
  readonly fileId: string;
  readonly committedOffset: number;
  /** When a batch was last applied or acknowledged (Unix ms); 0 before the first. */
  readonly lastSeenMs: number;
  /** Generations of the source seen so far. */
  readonly generations: number;
  /** The sidecar id of each connected stream, sorted. */
  readonly connectedSidecarIds: string[];
  readonly lastSidecarId: string;
  /** The latest reported file size; 0 when none was reported. */
  readonly fileSizeBytes: number;
  /** The generation fileSizeBytes belongs to; empty when no size was reported. */
  readonly fileSizeGeneration: string;
  /** Bytes of the reported file not yet committed; undefined when no size was reported. */
  readonly lagBytes: number | undefined;
  /** When a sidecar last sent a batch or heartbeat (Unix ms); 0 when none did since start. */
  readonly lastHeartbeatMs: number;
}

/**
 * Every source the store holds or a stream is connected for, sorted by
 * source id.
 */
export function describeSources(store: Store, activity: SourceActivity): SourceView[] {
  const generationsBySource = new Map<string, number>();
  for (const generation of store.view.allGenerations()) {
    generationsBySource.set(generation.sourceId, (generationsBySource.get(generation.sourceId) ?? 0) + 1);
  }
  const sourceIds = new Set([...store.view.allSources().keys(), ...[...activity.all()].map((live) => live.sourceId)]);
  const views: SourceView[] = [];
  for (const sourceId of sourceIds) {
    const durable = store.view.allSources().get(sourceId);
    const latest = durable && store.view.generation(sourceId, durable.latestGeneration);
    const live = activity.get(sourceId);
    views.push({
      sourceId,
      generation: durable?.latestGeneration ?? "",
      fileId: latest?.fileId ?? "",
      committedOffset: latest?.committedOffset ?? 0,
      lastSeenMs: durable?.lastSeenMs ?? 0,
      generations: generationsBySource.get(sourceId) ?? 0,
      connectedSidecarIds: live ? connectedSidecarIds(live) : [],
      lastSidecarId: durable?.lastSidecarId ?? "",
      fileSizeBytes: live?.fileSize?.sizeBytes ?? 0,
      fileSizeGeneration: live?.fileSize?.generation ?? "",
      lagBytes: live && lagBytes(store, live),
      lastHeartbeatMs: live?.lastHeartbeatMs ?? 0,
    });
  }
  return views.sort((a, b) => (a.sourceId < b.sourceId ? -1 : a.sourceId > b.sourceId ? 1 : 0));
}

/**
 * Bytes of the file a source's sidecar last reported that are not committed:
 * its size minus the committed offset of its generation (0 for a generation
 * not yet counted), never below 0 (the file may have been reported before a
 * later batch committed past it). Undefined when no size was reported.
 */
export function lagBytes(store: Store, live: Readonly<LiveSource>): number | undefined {
  const reported = live.fileSize;
  if (!reported) return undefined;
  const committed = store.view.generation(live.sourceId, reported.generation)?.committedOffset ?? 0;
  return Math.max(0, reported.sizeBytes - committed);
}

function connectedSidecarIds(live: Readonly<LiveSource>): string[] {
  const ids: string[] = [];
  for (const [sidecarId, streams] of live.streams) for (let i = 0; i < streams; i++) ids.push(sidecarId);
  return ids.sort();
}
