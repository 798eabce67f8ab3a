//! init tests.
