// Original file: logtally/v1/query.proto


export interface GetCountsRequest {
  /**
   * Exact host to select; empty selects every host.
   */
  'host'?: (string);
  /**
   * Exact job name to select; empty selects every job.
   */
  'jobName'?: (string);
}

export interface GetCountsRequest__Output {
  /**
   * Exact host to select; empty selects every host.
   */
  'host': (string);
  /**
   * Exact job name to select; empty selects every job.
   */
  'jobName': (string);
}
