/** The logtally sidecar as a library: used by main.ts and by tests. */
export { Sidecar } from "./sidecar";
export { parseSidecarConfig, SIDECAR_FLAGS, type SidecarConfig } from "./config";
export { SidecarMetrics } from "./metrics";
export { LineSplitter, type LineSink } from "./parse/line-splitter";
export { parseRow, type ParsedRow } from "./parse/row-parser";
export { DeltaBatcher, type SealedBatch } from "./batch/delta-batcher";
export { SIDECAR_NODE_OPTIONS } from "./node-options";
