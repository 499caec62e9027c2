//! The two address widths as unsigned integers, so the algorithms are written once.

use std::fmt::Debug;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address of one family as an integer: `u32` for IPv4, `u128` for IPv6.
pub(crate) trait Word: Copy + Ord + Debug + Default + Send + Sync + 'static {
    /// Bits in the address.
    const BITS: u8;
    /// All ones.
    const MAX: Self;
    /// Zero.
    const ZERO: Self;
    fn checked_inc(self) -> Option<Self>;
    fn checked_dec(self) -> Option<Self>;
    /// The number of trailing zero bits (BITS for zero).
    fn trailing_zeros(self) -> u8;
    /// `end - start + 1` as a u128, saturating (only `::/0` saturates).
    fn span(start: Self, end: Self) -> u128;
    /// The last address of the block of `2^bits` addresses starting at `self`.
    fn block_end(self, bits: u8) -> Self;
    /// Whether the block of `2^bits` starting at `self` ends at or before `end`.
    fn fits(self, bits: u8, end: Self) -> bool {
        self.block_end(bits) <= end
    }
    fn to_ip(self) -> IpAddr;
    /// The top `n` bits as an index (n <= 32).
    fn top(self, n: u8) -> usize;
}

impl Word for u32 {
    const BITS: u8 = 32;
    const MAX: u32 = u32::MAX;
    const ZERO: u32 = 0;
    fn checked_inc(self) -> Option<u32> {
        self.checked_add(1)
    }
    fn checked_dec(self) -> Option<u32> {
        self.checked_sub(1)
    }
    fn trailing_zeros(self) -> u8 {
        u32::trailing_zeros(self) as u8
    }
    fn span(start: u32, end: u32) -> u128 {
        u128::from(end - start) + 1
    }
    fn block_end(self, bits: u8) -> u32 {
        if bits >= 32 {
            u32::MAX
        } else {
            self | ((1u32 << bits) - 1)
        }
    }
    fn to_ip(self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(self))
    }
    #[inline(always)]
    fn top(self, n: u8) -> usize {
        (self >> (32 - u32::from(n))) as usize
    }
}

impl Word for u128 {
    const BITS: u8 = 128;
    const MAX: u128 = u128::MAX;
    const ZERO: u128 = 0;
    fn checked_inc(self) -> Option<u128> {
        self.checked_add(1)
    }
    fn checked_dec(self) -> Option<u128> {
        self.checked_sub(1)
    }
    fn trailing_zeros(self) -> u8 {
        u128::trailing_zeros(self) as u8
    }
    fn span(start: u128, end: u128) -> u128 {
        (end - start).saturating_add(1)
    }
    fn block_end(self, bits: u8) -> u128 {
        if bits >= 128 {
            u128::MAX
        } else {
            self | ((1u128 << bits) - 1)
        }
    }
    fn to_ip(self) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(self))
    }
    #[inline(always)]
    fn top(self, n: u8) -> usize {
        (self >> (128 - u32::from(n))) as usize
    }
}

/// Calls `emit(start, prefix_len)` for each CIDR block of the minimal cover of `start..=end`,
/// in ascending order. Greedy: at each step the largest aligned block that fits, which is
/// the unique minimal decomposition.
pub(crate) fn range_blocks<W: Word>(start: W, end: W, mut emit: impl FnMut(W, u8)) {
    let mut cur = start;
    loop {
        let mut bits = cur.trailing_zeros();
        while !cur.fits(bits, end) {
            bits -= 1;
        }
        emit(cur, W::BITS - bits);
        let last = cur.block_end(bits);
        if last >= end {
            return;
        }
        cur = last.checked_inc().expect("last < end");
    }
}
