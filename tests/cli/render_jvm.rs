//! render_jvm tests: jicofo and videobridge configs, read back by Typesafe
//! Config and java.util.Properties.
