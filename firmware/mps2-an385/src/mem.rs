//! `memcpy`, `memmove` and `memset` for the smallest image (the board's
//! `small-mem` feature): 76 bytes of Thumb-2 in place of
//! compiler_builtins' 1,058 (its `memmove` alone is 658: word copies of
//! either alignment in both directions, unrolled).
//!
//! compiler_builtins defines these and the Arm EABI's `__aeabi_mem*`
//! entry points (what LLVM calls on Arm) weak; these strong ones win at
//! link time. Copies go a word at a time, aligned or not (a Cortex-M3
//! loads and stores a word at any address in RAM, as `SCB.CCR.UNALIGN_TRP`
//! is off after reset), then byte by byte for the last 0 to 3 bytes; a
//! copy backwards (`memmove` to a higher, overlapping place: smoltcp's
//! tables making room) and `memset` go byte by byte. In assembly, as a copy
//! loop in Rust may be turned back into a call to `memcpy` itself.
//!
//! What it costs is time: a few microseconds more for each of the image's
//! frames of at most 590 bytes at 25 MHz.

core::arch::global_asm!(
    ".section .text.udpkit_mem,\"ax\",%progbits",
    ".syntax unified",
    ".thumb",
    // memcpy(dest r0, src r1, n r2) -> dest, and the EABI's (the same
    // registers, no result; the 4 and 8 variants promise aligned
    // pointers, which a word copy at any address does not need): words
    // while 4 bytes are left, then bytes. r0 is kept for the result.
    ".global memcpy",
    ".global __aeabi_memcpy",
    ".global __aeabi_memcpy4",
    ".global __aeabi_memcpy8",
    ".type memcpy,%function",
    ".thumb_func",
    "memcpy:",
    "    mov r3, r0",
    "    b 2f",
    "1:  ldr r12, [r1], #4",
    "    str r12, [r3], #4",
    "2:  subs r2, #4",
    "    bhs 1b",
    "    adds r2, #4",
    "    b 4f",
    "3:  ldrb r12, [r1], #1",
    "    strb r12, [r3], #1",
    "4:  subs r2, #1",
    "    bhs 3b",
    "    bx lr",
    ".size memcpy, . - memcpy",
    ".thumb_set __aeabi_memcpy, memcpy",
    ".thumb_set __aeabi_memcpy4, memcpy",
    ".thumb_set __aeabi_memcpy8, memcpy",
    // memmove(dest r0, src r1, n r2) -> dest, and the EABI's: forwards
    // (memcpy) unless dest is above src within n bytes, where the copy
    // must start at the end.
    ".global memmove",
    ".global __aeabi_memmove",
    ".global __aeabi_memmove4",
    ".global __aeabi_memmove8",
    ".type memmove,%function",
    ".thumb_func",
    "memmove:",
    "    subs r3, r0, r1",
    "    cmp r3, r2",
    "    bhs memcpy",
    "    b 2f",
    "1:  ldrb r3, [r1, r2]",
    "    strb r3, [r0, r2]",
    "2:  subs r2, #1",
    "    bhs 1b",
    "    bx lr",
    ".size memmove, . - memmove",
    ".thumb_set __aeabi_memmove, memmove",
    ".thumb_set __aeabi_memmove4, memmove",
    ".thumb_set __aeabi_memmove8, memmove",
    // The EABI's memclr(dest r0, n r1) is its memset with byte 0, and its
    // memset(dest r0, n r1, byte r2) is memset(dest r0, byte r1, n r2)
    // -> dest with the last two swapped.
    ".global __aeabi_memclr",
    ".global __aeabi_memclr4",
    ".global __aeabi_memclr8",
    ".global __aeabi_memset",
    ".global __aeabi_memset4",
    ".global __aeabi_memset8",
    ".global memset",
    ".type __aeabi_memclr,%function",
    ".thumb_func",
    "__aeabi_memclr:",
    "    movs r2, #0",
    ".thumb_func",
    "__aeabi_memset:",
    "    mov r3, r1",
    "    mov r1, r2",
    "    mov r2, r3",
    ".thumb_func",
    "memset:",
    "    mov r3, r0",
    "    b 2f",
    "1:  strb r1, [r3], #1",
    "2:  subs r2, #1",
    "    bhs 1b",
    "    bx lr",
    ".size __aeabi_memclr, . - __aeabi_memclr",
    ".thumb_set __aeabi_memclr4, __aeabi_memclr",
    ".thumb_set __aeabi_memclr8, __aeabi_memclr",
    ".thumb_set __aeabi_memset4, __aeabi_memset",
    ".thumb_set __aeabi_memset8, __aeabi_memset",
);
