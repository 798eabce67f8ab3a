# Sourced by the bench scripts: installs hyperfine when missing (apt-get,
# idempotent), builds the release binary and sets $bin to it (in
# $CARGO_TARGET_DIR when set, else target/).
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v hyperfine >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then apt=(apt-get); else apt=(sudo apt-get); fi
    "${apt[@]}" install -y -qq hyperfine >/dev/null \
        || { "${apt[@]}" update -qq && "${apt[@]}" install -y -qq hyperfine >/dev/null; }
fi
cargo build --release --locked --quiet
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/jitsi-stack"
