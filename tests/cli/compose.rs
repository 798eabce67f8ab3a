//! compose tests.
