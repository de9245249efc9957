//! Test-vector fixtures (wire-protocols.md §9) replayed against the converters.
