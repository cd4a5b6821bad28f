//! RAM accounting: the stack's high-water mark.
//!
//! riscv-rt puts the statics (.data, .bss, .uninit) at the bottom of RAM
//! and the stack at the top, growing down towards them. At boot, before
//! anything has used much stack, [`paint_stack`] fills the free room between
//! the two with a pattern; later, [`stack_usage`] looks for the lowest word
//! that no longer holds it: everything above has been stack at some point.
//! Nothing guards the boundary (a stack overflow would silently overwrite
//! .bss), so the report shows how much room is left.

use core::ptr::{addr_of, read_volatile, write_volatile};

const PAINT: u32 = 0xC0FF_EE55;

/// Room left between the deepest stack use and the painting when measuring
/// starts: the painter's own frame and a possible exception frame.
const MARGIN: usize = 256;

extern "C" {
    // Symbols of riscv-rt's link.x.
    /// Start of .data: the bottom of RAM.
    static __sdata: u32;
    /// End of .uninit, the last statics: the lowest address the stack may reach.
    static __sheap: u32;
    /// Initial stack pointer: the top of RAM.
    static _stack_start: u32;
}

fn bottom() -> usize {
    // Only the address of the linker symbol is taken, never its value.
    (addr_of!(__sheap) as usize + 3) & !3
}

fn top() -> usize {
    addr_of!(_stack_start) as usize
}

/// Bytes of RAM taken by statics (.data + .bss + .uninit).
pub fn static_ram() -> usize {
    bottom() - addr_of!(__sdata) as usize
}

/// Paints the unused stack and returns a hash of what was there before:
/// on real SRAM, power-up contents are partly random (some entropy for the
/// stack's seed); in QEMU they are zeros. Call it first thing in `main`,
/// with interrupts still off.
pub fn paint_stack() -> u64 {
    let sp: usize;
    // SAFETY: reads the stack pointer, nothing else.
    unsafe { core::arch::asm!("mv {}, sp", out(reg) sp) };
    let end = sp - MARGIN;
    let mut hash: u64 = 0xCBF2_9CE4_8422_2325;
    let mut address = bottom();
    while address < end {
        // SAFETY: between the end of the statics and (well below) the
        // current stack pointer: RAM no Rust object occupies.
        unsafe {
            let old = read_volatile(address as *const u32);
            hash = (hash ^ u64::from(old)).wrapping_mul(0x0000_0100_0000_01B3);
            write_volatile(address as *mut u32, PAINT);
        }
        address += 4;
    }
    hash
}

/// The stack: bytes used at most since boot, and the room it has.
#[derive(Debug, Clone, Copy)]
pub struct StackUsage {
    pub used: usize,
    pub size: usize,
}

pub fn stack_usage() -> StackUsage {
    let (bottom, top) = (bottom(), top());
    let mut address = bottom;
    // SAFETY: reads of RAM between the statics and the top of the stack.
    while address < top && unsafe { read_volatile(address as *const u32) } == PAINT {
        address += 4;
    }
    StackUsage {
        used: top - address,
        size: top - bottom,
    }
}
