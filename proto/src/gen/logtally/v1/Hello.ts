// Original file: logtally/v1/ingest.proto


/**
 * Hello asks for the current generation of one file of a source. It may be
 * sent again on the same stream (after a rotation or a truncation); the
 * source_id must stay the same for the life of the stream.
 */
export interface Hello {
  /**
   * Names what is counted once: every sidecar shipping the same file must use
   * the same source_id.
   */
  'sourceId'?: (string);
  /**
   * Identity of the file: its inode and a checksum of its first line.
   */
  'fileId'?: (string);
  /**
   * The shipping process, for inspection only (for example the pod name).
   */
  'sidecarId'?: (string);
  /**
   * Set when the sidecar found this generation rewritten in place (truncated,
   * truncated and regrown): the aggregator then opens the next generation of
   * the file at offset 0, unless another sidecar already did.
   */
  'supersedeGeneration'?: (string);
}

/**
 * Hello asks for the current generation of one file of a source. It may be
 * sent again on the same stream (after a rotation or a truncation); the
 * source_id must stay the same for the life of the stream.
 */
export interface Hello__Output {
  /**
   * Names what is counted once: every sidecar shipping the same file must use
   * the same source_id.
   */
  'sourceId': (string);
  /**
   * Identity of the file: its inode and a checksum of its first line.
   */
  'fileId': (string);
  /**
   * The shipping process, for inspection only (for example the pod name).
   */
  'sidecarId': (string);
  /**
   * Set when the sidecar found this generation rewritten in place (truncated,
   * truncated and regrown): the aggregator then opens the next generation of
   * the file at offset 0, unless another sidecar already did.
   */
  'supersedeGeneration': (string);
}
