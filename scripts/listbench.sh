#!/bin/sh
# A million IPv4 CIDRs into an interval set, three ways, in one run (root; every phase in a
# network namespace of its own, `unshare -n`). Prints the lines BENCHMARKS.md quotes
# ("Set elements over netlink", list loads). The data is described in
# crates/nfnl/examples/listbench.rs.
#
#   scripts/listbench.sh [DIR] [--no-nft-reload]     (builds the example itself)
set -e
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_cargo
need_packages time nftables ipset tor-geoipdb
cargo build --release --quiet -p rampart-nfnl --example listbench
DIR=${1:-/tmp/listbench}
BIN=target/release/examples/listbench
TIME="/usr/bin/time -f %e_s_%M_KiB"
[ -f "$DIR/cidrs.txt" ] || "$BIN" gen "$DIR"
SETUP='table inet rampart { set bl_bench_4 { type ipv4_addr; flags interval; }; }'

echo "== rampart-nfnl SetClient::replace (our process: time, peak RSS)"
unshare -n $TIME "$BIN" load "$DIR/cidrs.txt"
echo "== the same addresses as rampart block loads a list (joined into ranges)"
unshare -n $TIME "$BIN" load "$DIR/cidrs.txt" --ranges

echo "== nft -f load.nft (flush set + add element, 4096 per statement) into the empty set"
unshare -n sh -c "echo '$SETUP' | nft -f - && $TIME nft -f '$DIR/load.nft' &&
  if [ '$2' != '--no-nft-reload' ]; then
    echo '== nft -f load.nft again (reload onto the full set)'; $TIME nft -f '$DIR/load.nft'; fi"

echo "== ipset restore, hash:net (a hash, not an interval tree)"
unshare -n $TIME ipset restore -f "$DIR/ipset.txt"
echo "== ipset: the same, swapped in (create tmp + restore + swap + destroy)"
unshare -n sh -c "ipset restore -f '$DIR/ipset.txt' &&
  sed 's/bl_bench_4/bl_bench_4_new/' '$DIR/ipset.txt' > '$DIR/ipset-new.txt' &&
  $TIME sh -c \"ipset restore -f '$DIR/ipset-new.txt' && ipset swap bl_bench_4 bl_bench_4_new && ipset destroy bl_bench_4_new\""
