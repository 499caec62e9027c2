#!/usr/bin/env python3
"""Peer figures for BENCHMARKS.md "Prefixes and GeoIP", on the same tor-geoipdb files:

- aggregation: Python's ipaddress.summarize_address_range + collapse_addresses per country
  (what an admin's script would do), against `rampart-lists`' "aggregate ... per country";
- lookups: bisect over the sorted ranges, the usual pure-Python lookup.

Run: python3 scripts/bench-geo-peer.py
"""
import bisect
import collections
import ipaddress
import random
import time

GEOIP = "/usr/share/tor/geoip"


def read_v4():
    out = []
    with open(GEOIP) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            a, b, cc = line.strip().split(",")
            if cc == "??":  # no country; rampart skips these too
                continue
            out.append((int(a), int(b), cc))
    return out


def main():
    t = time.perf_counter()
    ranges = read_v4()
    print(f"parse {GEOIP}: {len(ranges)} ranges in {time.perf_counter() - t:.2f} s")

    t = time.perf_counter()
    by = collections.defaultdict(list)
    for a, b, cc in ranges:
        by[cc].extend(
            ipaddress.summarize_address_range(ipaddress.IPv4Address(a), ipaddress.IPv4Address(b))
        )
    cidrs = sum(len(list(ipaddress.collapse_addresses(nets))) for nets in by.values())
    print(f"aggregate per country (ipaddress): {cidrs} CIDRs in {time.perf_counter() - t:.2f} s")

    starts = [a for a, _, _ in ranges]
    rng = random.Random(1)
    addrs = [rng.getrandbits(32) for _ in range(1_000_000)]
    t = time.perf_counter()
    hits = 0
    for x in addrs:
        i = bisect.bisect_right(starts, x) - 1
        if i >= 0 and ranges[i][1] >= x:
            hits += 1
    dt = time.perf_counter() - t
    print(f"lookups IPv4 (bisect): {len(addrs) / dt / 1e6:.2f} M/s ({hits} hits)")


if __name__ == "__main__":
    main()
