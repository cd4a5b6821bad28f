//! The binary has no `std`, so rustc links it without the C library
//! (`-nodefaultlibs`). It keeps the C runtime's `_start`, which calls our
//! `main`, so the program has an aligned stack and a normal exit status;
//! that start-up code, and the `memcpy` family that `core` calls on Linux,
//! come from libc, linked here by hand. libc is not `std`: the proof that
//! udpkit needs no `std` is unchanged.

fn main() {
    println!("cargo:rustc-link-arg-bins=-lc");
    println!("cargo:rerun-if-changed=build.rs");
}
