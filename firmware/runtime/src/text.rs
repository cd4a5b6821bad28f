//! Console text without `core::fmt`: pieces of `&str`, decimal numbers
//! (padded to a width, or with leading zeros), hexadecimal words, and IP
//! addresses, each written to the board's console as it comes.
//!
//! `core::fmt` costs several KiB of flash on a Cortex-M (the formatter,
//! padding, integer formatting, and every `Display` impl a message
//! reaches). An image built without the `console` feature writes all its
//! text here instead: the boot lines, the clock line, its short `s`
//! report, and the panic and fault reports, which the full image writes
//! here too (their text is the same either way). Its divisions are
//! [`div_rem`]'s, bit by bit: a 64-bit division would bring
//! compiler_builtins' routine along, about 600 bytes.

use core::marker::PhantomData;

use udpkit::clock::div_rem;
use udpkit::smoltcp::wire::{IpAddress, IpEndpoint, Ipv4Address, Ipv4Cidr};

use crate::Platform;

const DIGITS: &str = "0123456789abcdef";

/// Plain text to the console of board `P`: `Text::<P>::new().str("port
/// ").number(7).str("\n")`. Zero-sized: make one wherever text is written.
pub struct Text<P>(PhantomData<fn() -> P>);

// By hand: a derive would ask `P: Copy`.
impl<P> Clone for Text<P> {
    fn clone(&self) -> Text<P> {
        *self
    }
}

impl<P> Copy for Text<P> {}

impl<P: Platform> Default for Text<P> {
    fn default() -> Text<P> {
        Text::new()
    }
}

impl<P: Platform> Text<P> {
    /// The board's console.
    pub const fn new() -> Text<P> {
        Text(PhantomData)
    }

    /// `text` as it is.
    pub fn str(self, text: &str) -> Text<P> {
        P::console_write(text);
        self
    }

    /// `text`, then spaces up to `width` bytes (`{:<width}` for ASCII).
    pub fn padded(self, text: &str, width: usize) -> Text<P> {
        self.str(text).spaces(width.saturating_sub(text.len()))
    }

    /// `count` spaces.
    pub fn spaces(self, count: usize) -> Text<P> {
        for _ in 0..count {
            P::console_write(" ");
        }
        self
    }

    /// `n` in decimal (`{}`).
    pub fn number(self, n: u64) -> Text<P> {
        self.digits(n, 1)
    }

    /// `n` in decimal, then spaces up to `width` characters (`{:<width}`).
    pub fn number_padded(self, n: u64, width: usize) -> Text<P> {
        let written = self.decimal(n, 1);
        self.spaces(width.saturating_sub(written))
    }

    /// `n` in decimal with leading zeros to `digits` digits (`{:0digits}`).
    pub fn digits(self, n: u64, digits: usize) -> Text<P> {
        self.decimal(n, digits);
        self
    }

    /// `n` in decimal with leading zeros to `digits` digits; how many
    /// digits that wrote. The higher digits first, by recursion (at most
    /// 20 deep, a few words each): no buffer, one division a digit.
    fn decimal(self, n: u64, digits: usize) -> usize {
        let (tens, units) = div_rem::<10>(n);
        let written = if tens > 0 || digits > 1 {
            self.decimal(tens, digits.saturating_sub(1))
        } else {
            0
        };
        self.digit(units as u8);
        written + 1
    }

    /// `n` as `0x` and eight hexadecimal digits (`{:#010x}`).
    pub fn hex(self, n: u32) -> Text<P> {
        P::console_write("0x");
        self.hex_digits(n, 8)
    }

    /// The `count` lowest hexadecimal digits of `n`, lower case.
    fn hex_digits(self, n: u32, count: u32) -> Text<P> {
        for shift in (0..count).rev() {
            self.digit((n >> (4 * shift)) as u8 & 0xf);
        }
        self
    }

    /// One digit, 0 to 15.
    fn digit(&self, digit: u8) {
        let at = usize::from(digit);
        if let Some(text) = DIGITS.get(at..at + 1) {
            P::console_write(text);
        }
    }

    /// `192.168.69.1`.
    pub fn ipv4(self, address: Ipv4Address) -> Text<P> {
        let mut text = self;
        for (i, octet) in address.octets().into_iter().enumerate() {
            if i > 0 {
                text = text.str(".");
            }
            text = text.number(u64::from(octet));
        }
        text
    }

    /// `192.168.69.1/24`.
    pub fn ipv4_cidr(self, cidr: Ipv4Cidr) -> Text<P> {
        self.ipv4(cidr.address())
            .str("/")
            .number(u64::from(cidr.prefix_len()))
    }

    /// An IPv4 address, or an IPv6 one as eight groups of hexadecimal
    /// digits (`fdaa:0:0:0:0:0:0:1`: valid, if not the shortest form).
    pub fn ip(self, address: IpAddress) -> Text<P> {
        // Through core's type, whose IPv6 variant is there in every build.
        match core::net::IpAddr::from(address) {
            core::net::IpAddr::V4(v4) => self.ipv4(v4),
            core::net::IpAddr::V6(v6) => {
                let mut text = self;
                for (i, group) in v6.segments().into_iter().enumerate() {
                    if i > 0 {
                        text = text.str(":");
                    }
                    let digits = (1..4).rev().find(|d| group >> (4 * d) != 0).unwrap_or(0) + 1;
                    text = text.hex_digits(u32::from(group), digits);
                }
                text
            }
        }
    }

    /// `192.168.69.100:123`, or `[fdaa:0:0:0:0:0:0:100]:123` (as
    /// [`Text::ip`]).
    pub fn endpoint(self, endpoint: IpEndpoint) -> Text<P> {
        let text = match core::net::IpAddr::from(endpoint.addr) {
            core::net::IpAddr::V4(v4) => self.ipv4(v4),
            core::net::IpAddr::V6(_) => self.str("[").ip(endpoint.addr).str("]"),
        };
        text.str(":").number(u64::from(endpoint.port))
    }
}
