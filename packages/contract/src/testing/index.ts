// @wrenn/contract/testing: the shared test tables (run against the real programs and their
// test doubles alike). Not for production code.
export * from "./agent-create-cases.js";
