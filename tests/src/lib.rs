//! Helpers shared by the integration tests.
#![forbid(unsafe_code)]
