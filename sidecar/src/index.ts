/** The logtally sidecar as a library: used by main.ts and by tests. */
export { Sidecar } from "./sidecar";
export { parseSidecarConfig, type SidecarConfig } from "./config";
export { SidecarMetrics } from "./metrics";
export { LineSplitter, type LineSink } from "./line-splitter";
export { parseRow, type ParsedRow } from "./row-parser";
export { DeltaBatcher, type SealedBatch } from "./delta-batcher";
