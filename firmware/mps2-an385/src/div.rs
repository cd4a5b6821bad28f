//! `__aeabi_uldivmod`, the Arm EABI's 64-bit unsigned division, for the
//! small images (the board's `small-mem` feature): 42 bytes of Thumb-2 in
//! place of compiler_builtins' 470 or so (its `u64_div_rem`, 388 bytes,
//! with `__udivmoddi4` and the 64-bit shifts it calls).
//!
//! udpkit divides its 64-bit numbers without it (`udpkit::clock::div_rem`);
//! what is left calling it in the lean image is smoltcp's ICMPv6 emitter,
//! for the lifetimes of a router advertisement, which a host never sends.
//! compiler_builtins defines it weak; this strong one wins at link time
//! (as `mem.rs`'s copies do), and the library's division is left out.
//!
//! School long division in base 2, as `udpkit::clock`'s: the numerator's
//! bits leave it at the top, into the remainder, as the quotient's come in
//! at the bottom, 64 steps of a shift, a compare and perhaps a
//! subtraction (about 15 µs at 25 MHz). The remainder never outgrows 64
//! bits: after k steps it is at most the k bits of the numerator taken so
//! far, below 2^63 before the last shift. A divisor of 0 (Rust checks for
//! it before dividing) gives all ones and the numerator.
//!
//! The `division-check` feature (a test image's) checks it at boot
//! ([`check`]).

core::arch::global_asm!(
    ".section .text.udpkit_div,\"ax\",%progbits",
    ".syntax unified",
    ".thumb",
    // (quotient r0:r1, remainder r2:r3) = (numerator r0:r1) / (divisor
    // r2:r3); the remainder in r4:r5, the steps left in r6.
    ".global __aeabi_uldivmod",
    ".type __aeabi_uldivmod,%function",
    ".thumb_func",
    "__aeabi_uldivmod:",
    "    push {{r4, r5, r6, lr}}",
    "    movs r4, #0",
    "    movs r5, #0",
    "    movs r6, #64",
    // The remainder and the numerator, as one 128-bit number, shifted
    // left by one.
    "1:  adds r0, r0, r0",
    "    adcs r1, r1, r1",
    "    adcs r4, r4, r4",
    "    adcs r5, r5, r5",
    // Below the divisor: this quotient bit is 0.
    "    cmp r4, r2",
    "    sbcs r12, r5, r3",
    "    bcc 3f",
    // Subtract it; this quotient bit is 1 (the shift left a 0 there).
    "    subs r4, r4, r2",
    "    sbcs r5, r5, r3",
    "    adds r0, r0, #1",
    "3:  subs r6, r6, #1",
    "    bne 1b",
    "    mov r2, r4",
    "    mov r3, r5",
    "    pop {{r4, r5, r6, pc}}",
    ".size __aeabi_uldivmod, . - __aeabi_uldivmod",
);

/// Divides numbers around every boundary of the algorithm (0, 1, each
/// side of 2^32 and 2^63, the largest), each by each, and a few thousand
/// of every length, with `/` and `%` (`__aeabi_uldivmod` on this
/// target), and checks each quotient and remainder by the definition:
/// `n = q * d + r` with `r < d`, exactly (no overflow). A wrong one
/// stops the board; the right ones are counted.
#[cfg(feature = "division-check")]
pub fn check() -> u64 {
    use core::hint::black_box;
    const EDGES: [u64; 16] = [
        0,
        1,
        2,
        3,
        10,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        1 << 32,
        (1 << 32) + 1,
        (1 << 63) - 1,
        1 << 63,
        (1 << 63) + 1,
        0xffff_ffff_0000_0000,
        u64::MAX - 1,
        u64::MAX,
    ];
    let mut checked = 0;
    let mut divide = |n: u64, d: u64| {
        if d == 0 {
            return;
        }
        let (q, r) = (black_box(n) / black_box(d), black_box(n) % black_box(d));
        let back = q.checked_mul(d).and_then(|product| product.checked_add(r));
        if r >= d || back != Some(n) {
            panic!("division check: a wrong quotient or remainder");
        }
        checked += 1;
    };
    for n in EDGES {
        for d in EDGES {
            divide(n, d);
        }
    }
    let mut x = 0x0123_4567_89ab_cdef_u64;
    for _ in 0..4000 {
        // Numbers of every length: splitmix64, shifted right by 0 to 63
        // (a divisor shifted to 0 is 1).
        let n = udpkit_runtime::splitmix64(x);
        let d = udpkit_runtime::splitmix64(n);
        x = x.wrapping_add(1);
        divide(n >> (d % 64), (d >> (n % 64)).max(1));
    }
    checked
}
