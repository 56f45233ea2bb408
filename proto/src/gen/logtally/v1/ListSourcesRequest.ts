// Original file: logtally/v1/query.proto


export interface ListSourcesRequest {
}

export interface ListSourcesRequest__Output {
}
