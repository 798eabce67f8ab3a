//! render_jvm tests.
