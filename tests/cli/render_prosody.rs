//! render_prosody tests.
