/** What the tests of every package share. */
export * from "./seeded-random";
export * from "./programs";
export * from "./postgres";
export * from "./free-port";
