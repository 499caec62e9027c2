# Shared helpers for the scripts in this folder: install what is missing, nothing more.

# need_packages PKG...: installs the Debian packages among PKG that are not installed.
need_packages() {
    missing=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages:$missing; run as root or: sudo apt-get install$missing" >&2
        exit 1
    fi
    echo "installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq $missing >/dev/null
}

# The oldest Rust that builds rampart (rust-version in Cargo.toml).
RUST_MIN=1.82

# need_cargo: a Rust toolchain (rustup's if present, else the distribution's), recent enough.
need_cargo() {
    [ -d "$HOME/.cargo/bin" ] && PATH="$HOME/.cargo/bin:$PATH"
    command -v cargo >/dev/null 2>&1 || need_packages cargo rustc
    command -v cc >/dev/null 2>&1 || need_packages gcc libc6-dev
    have=$(rustc --version | awk '{print $2}')
    if [ "$(printf '%s\n%s\n' "$RUST_MIN" "$have" | sort -V | head -n 1)" != "$RUST_MIN" ]; then
        echo "rustc $have is older than $RUST_MIN, which rampart needs." >&2
        echo "Debian 13 (trixie) ships a recent enough rustc; on older releases install one" >&2
        echo "with rustup (https://rustup.rs) and run this again." >&2
        exit 1
    fi
}
