//! Capability matrix: every (client, upstream) pair through the same scenarios.
