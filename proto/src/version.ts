/** The protocol every program here speaks: the package of its messages and services. */
export const PROTOCOL_VERSION = "logtally.v1";
