//! envfile tests.
