//! render_jibri tests: recorder configs, read back by Typesafe Config and
//! java.util.Properties.
