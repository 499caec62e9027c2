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
    /// `n` bits (at most 32) after the top `skip` bits, as an index; 0 when `n` is 0.
    fn bits(self, skip: u8, n: u8) -> usize;
    /// The top `n` bits, the rest cleared (zero when `n` is 0).
    fn high(self, n: u8) -> Self;
    /// The number of top bits `self` and `other` share.
    fn common(self, other: Self) -> u8;
    fn wrapping_sub(self, other: Self) -> Self;
    /// `self >> n` (`n` below BITS).
    fn shr(self, n: u8) -> Self;
    /// The low bits as an index (the caller knows the value fits).
    fn as_index(self) -> usize;
}

macro_rules! word {
    ($t:ty, $bits:expr, $ip:expr) => {
        impl Word for $t {
            const BITS: u8 = $bits;
            const MAX: $t = <$t>::MAX;
            const ZERO: $t = 0;
            fn checked_inc(self) -> Option<$t> {
                self.checked_add(1)
            }
            fn checked_dec(self) -> Option<$t> {
                self.checked_sub(1)
            }
            fn trailing_zeros(self) -> u8 {
                <$t>::trailing_zeros(self) as u8
            }
            fn span(start: $t, end: $t) -> u128 {
                ((end - start) as u128).saturating_add(1)
            }
            fn block_end(self, bits: u8) -> $t {
                if bits >= $bits {
                    <$t>::MAX
                } else {
                    self | ((1 << bits) - 1)
                }
            }
            fn to_ip(self) -> IpAddr {
                $ip(self)
            }
            #[inline(always)]
            fn bits(self, skip: u8, n: u8) -> usize {
                if n == 0 {
                    0
                } else {
                    ((self << skip) >> ($bits - u32::from(n))) as usize
                }
            }
            #[inline(always)]
            fn high(self, n: u8) -> $t {
                self & !(<$t>::MAX.checked_shr(u32::from(n)).unwrap_or(0))
            }
            fn common(self, other: $t) -> u8 {
                (self ^ other).leading_zeros() as u8
            }
            #[inline(always)]
            fn wrapping_sub(self, other: $t) -> $t {
                <$t>::wrapping_sub(self, other)
            }
            #[inline(always)]
            fn shr(self, n: u8) -> $t {
                self >> n
            }
            #[inline(always)]
            fn as_index(self) -> usize {
                self as usize
            }
        }
    };
}

word!(u32, 32, |a: u32| IpAddr::V4(Ipv4Addr::from(a)));
word!(u64, 64, |a: u64| IpAddr::V6(Ipv6Addr::from(
    u128::from(a) << 64
)));
word!(u128, 128, |a: u128| IpAddr::V6(Ipv6Addr::from(a)));

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
