/** A file size a sidecar reported, with the generation it belongs to. */
export interface ReportedFileSize {
  readonly generation: string;
  readonly sizeBytes: number;
  readonly reportedMs: number;
}

/** What the aggregator has heard from one source's sidecars since it started. */
export interface LiveSource {
  readonly sourceId: string;
  /** Open ingest streams, by sidecar id. */
  readonly streams: ReadonlyMap<string, number>;
  /** When a sidecar last sent a batch or a heartbeat (Unix ms); 0 when none did. */
  readonly lastHeartbeatMs: number;
  /** The latest file size reported, if any. */
  readonly fileSize: ReportedFileSize | undefined;
}

interface MutableLiveSource extends LiveSource {
  readonly streams: Map<string, number>;
  lastHeartbeatMs: number;
  fileSize: ReportedFileSize | undefined;
}

/**
 * The live view of the sources, in memory only: which sidecars are connected,
 * when they were last heard from, and how large their files are. It is not
 * persisted, because it describes the present: after a restart the sidecars
 * reconnect and report again.
 *
 * It holds a source with no durable state (no batch applied yet) only while
 * one of its streams is open, so streams that come and go leave nothing
 * behind.
 */
export class SourceActivity {
  private readonly sources = new Map<string, MutableLiveSource>();

  /** @param isDurable whether the store holds the source, which then stays listed after its streams close */
  constructor(private readonly isDurable: (sourceId: string) => boolean) {}

  /** A stream said hello for `sourceId` as `sidecarId`. */
  streamOpened(sourceId: string, sidecarId: string): void {
    const source = this.entry(sourceId);
    source.streams.set(sidecarId, (source.streams.get(sidecarId) ?? 0) + 1);
  }

  /** A stream opened with {@link streamOpened} ended. */
  streamClosed(sourceId: string, sidecarId: string): void {
    const source = this.sources.get(sourceId);
    if (!source) return;
    const open = (source.streams.get(sidecarId) ?? 0) - 1;
    if (open > 0) source.streams.set(sidecarId, open);
    else source.streams.delete(sidecarId);
    if (source.streams.size === 0 && !this.isDurable(sourceId)) this.sources.delete(sourceId);
  }

  /** A sidecar of the source sent a batch or a heartbeat, reporting its file's size if it knows it. */
  heardFrom(sourceId: string, nowMs: number, fileSize?: { generation: string; sizeBytes: number }): void {
    const source = this.entry(sourceId);
    source.lastHeartbeatMs = nowMs;
    if (fileSize) source.fileSize = { ...fileSize, reportedMs: nowMs };
  }

  /** The live view of one source. */
  get(sourceId: string): Readonly<LiveSource> | undefined {
    return this.sources.get(sourceId);
  }

  /** Every source heard from since start, or connected now. */
  all(): Iterable<Readonly<LiveSource>> {
    return this.sources.values();
  }

  private entry(sourceId: string): MutableLiveSource {
    let source = this.sources.get(sourceId);
    if (!source) {
      source = { sourceId, streams: new Map(), lastHeartbeatMs: 0, fileSize: undefined };
      this.sources.set(sourceId, source);
    }
    return source;
  }
}
