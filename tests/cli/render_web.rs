//! render_web tests.
