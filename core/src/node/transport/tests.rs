//! Unit tests of the transport alone.
