//! render_jigasi tests: jigasi and transcriber configs, read back by
//! java.util.Properties.
