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
    # Another apt or dpkg run holding the lock is waited for (up to 5 minutes), not an error.
    apt-get update -qq && apt-get -o DPkg::Lock::Timeout=300 install -y -qq $missing >/dev/null
}

# The oldest Rust that builds rampart (rust-version in Cargo.toml).
RUST_MIN=1.85

# rust_recent VERSION: true when VERSION (a rustc or Debian package version) >= RUST_MIN.
rust_recent() {
    v=$(printf '%s' "$1" | sed 's/^[0-9]*://; s/[+~-].*//')
    [ -n "$v" ] && [ "$(printf '%s\n%s\n' "$RUST_MIN" "$v" | sort -V | head -n 1)" = "$RUST_MIN" ]
}

# apt_candidate PKG: the version apt would install for PKG, empty if none.
apt_candidate() {
    command -v apt-cache >/dev/null 2>&1 || return 0
    apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'
}

# need_cargo: a Rust toolchain at least RUST_MIN, tried in this order:
#   1. a rustup toolchain already present ($CARGO_HOME/bin or ~/.cargo/bin, or on PATH);
#   2. the distribution's cargo and rustc, when recent enough (Debian 13, for one);
#   3. Debian's cargo-web and rustc-web (Debian 12: the stock rustc is 1.63, these are
#      1.85 or later; they install /usr/bin/cargo and /usr/bin/rustc and replace the
#      stock cargo and rustc packages, nothing else);
#   4. a message saying what to install.
# It never removes a rustup toolchain.
need_cargo() {
    cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
    if [ -x "$cargo_bin/cargo" ]; then
        PATH="$cargo_bin:$PATH"
        export PATH
    fi
    command -v cc >/dev/null 2>&1 || need_packages gcc libc6-dev
    # The fleet's PostgreSQL client verifies TLS through the system's OpenSSL.
    { command -v pkg-config >/dev/null 2>&1 && [ -e /usr/include/openssl/ssl.h ]; } ||
        need_packages pkg-config libssl-dev
    have=$(rust_have)
    rust_recent "$have" && return 0
    if command -v rustup >/dev/null 2>&1; then
        # A rustup install is the user's choice: do not work around it with apt.
        rust_too_old "${have:-none}" "run: rustup update stable && rustup default stable"
    fi
    if rust_recent "$(apt_candidate rustc)"; then
        need_packages cargo rustc
    elif rust_recent "$(apt_candidate rustc-web)"; then
        # cargo-web/rustc-web conflict with cargo/rustc (and Debian's rustup package, ruled
        # out above): let apt replace the old pair, but stop if it wants to remove more.
        if [ "$(id -u)" -eq 0 ]; then
            extra=$(apt-get install -s cargo-web rustc-web 2>/dev/null |
                awk '$1 == "Remv" && $2 != "cargo" && $2 != "rustc" { printf " %s", $2 }')
            if [ -n "$extra" ]; then
                rust_too_old "${have:-none}" "installing cargo-web and rustc-web would remove:$extra; install them by hand (apt-get install cargo-web rustc-web) or use rustup (https://rustup.rs)"
            fi
            [ -z "$have" ] || echo "rustc $have is older than $RUST_MIN: replacing Debian's cargo and rustc with cargo-web and rustc-web" >&2
        fi
        need_packages cargo-web rustc-web
    fi
    hash -r 2>/dev/null || true
    have=$(rust_have)
    rust_recent "$have" && return 0
    rust_too_old "${have:-none}" "this distribution has no recent enough rustc package; install one with rustup (https://rustup.rs) and run this again"
}

# rust_have: the version of the rustc on PATH (empty if none works), checking cargo too.
rust_have() {
    command -v cargo >/dev/null 2>&1 && cargo --version >/dev/null 2>&1 || return 0
    rustc --version 2>/dev/null | awk '{ print $2 }'
}

# rust_too_old HAVE REMEDY: the last resort: say what is wrong and what to do, and stop.
rust_too_old() {
    echo "rampart needs Rust $RUST_MIN or later (found: $1)." >&2
    echo "$2" >&2
    exit 1
}
