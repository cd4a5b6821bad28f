//! The firmware (`firmware/`): the same core on emulated boards, two
//! Cortex-M3 (mps2-an385, lm3s6965evb) and a RISC-V one (riscv-virt).
//!
//! - It builds, with Debian's Rust toolchain, for `thumbv7m-none-eabi` (the
//!   mps2-an385's Cortex-M3) and `thumbv7em-none-eabihf` (Cortex-M4F/M7),
//!   and riscv-virt for `riscv32imac-unknown-none-elf`.
//! - Each footprint fits its board's budget (256 KiB flash and 64 KiB RAM
//!   for the Arm boards, 256 KiB and 96 KiB for riscv-virt, whose virtio
//!   rings take whole pages); the table is printed (`--nocapture` shows
//!   it).
//! - The LAN9118 driver's and the firmware runtime's unit tests pass on
//!   the host.
//! - End to end, for each board (the same test, [`BoardSpec`]): the image
//!   runs in QEMU (`mps2-an385` with its LAN9118, `lm3s6965evb` with its
//!   Stellaris MAC, `virt` with virtio-net over MMIO) on a TAP inside a
//!   private network namespace, and `nc -u`, `ping`,
//!   `rdate -u`, Python and `udpkit discover` get the answers the host
//!   gives. The board's clock: while no NTP server runs on the Linux side,
//!   daytime and time stay silent and NTP answers with a kiss-o'-death
//!   (`INIT`); once `udpkit serve --backend kernel --services ntp` runs
//!   there, the board's SNTP client syncs to it and `rdate -u`, daytime,
//!   `udpkit ntp` (stratum 11) and `ntpdate -q` get the host's time. QEMU
//!   idles near 0 % CPU; a panic is reported and ends QEMU with status 1;
//!   QEMU is stopped and the namespace removed.
//! - DHCP: the image built with the runtime's `dhcp` feature takes its
//!   address from dnsmasq on the Linux side of the TAP and answers echo,
//!   ping and `udpkit discover` there (needs dnsmasq, Debian's
//!   dnsmasq-base).
//! - A room of 16 hosts (addresses on the Linux side of the TAP, some on
//!   IPv6) sending at the same instant: every echo answered at once, and
//!   a 16-member chat whose every line reaches all others, also after 70 s
//!   of silence, without the board resolving a single neighbor.
//! - The lean image (every service, SNTP, IPv6 and discovery in the size
//!   class `ram-32k`, without the console): echo to a room of 16 hosts,
//!   upper, hello, a chat of 8, discovery, IPv6, and daytime, time and NTP
//!   once SNTP set the clock; its RAM (statics and the stack's high-water
//!   mark) within its ceiling, issue 13's goal shown beside it.
//!
//! Needs: Debian's toolchain and QEMU (`sudo bash firmware/ci-setup.sh`
//! installs them); for the end-to-end test also root and the client tools
//! (iproute2, netcat-openbsd, iputils-ping, rdate, ntpdate, python3,
//! coreutils, util-linux). As non-root the end-to-end test fails unless
//! `UDPKIT_SKIP_E2E=1`, which skips it (and says so). Missing tools fail,
//! naming what installs them.
//!
//! Network safety: the TAP, its address, the NTP server on the Linux side
//! and every datagram live in a network namespace this test creates with
//! the host tests' fixture (`support::Netns`, `udpkit-e2e-<pid>-<n>`); its
//! guard kills every process in it and deletes it, even when the test
//! fails. All commands run under `timeout` and a hard limit of the
//! fixture's, all waits are bounded.
//!
//! Clock safety: a namespace does not isolate the clock, so every time
//! client runs query only (`rdate -p`, `ntpdate -q`, `udpkit ntp`) and
//! without CAP_SYS_TIME (`setpriv` drops it from the bounding set), as in
//! `ntp.rs`: even a client that tried could not set the machine's clock.

mod support;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use support::{
    find_in_path, nc, nc_expect, ntpdig_offset_and_stratum, run_bounded, scratch, time_client,
    wait_bounded, Netns, Out, Server,
};

/// A board of firmware/: its crate, image, target, QEMU machine and NIC.
struct BoardSpec {
    /// The crate's directory under firmware/, and discovery's device name.
    name: &'static str,
    /// The image's name.
    bin: &'static str,
    /// The target its end-to-end test builds it for.
    target: &'static str,
    /// The QEMU that runs it.
    qemu: &'static str,
    /// QEMU's machine: `-M` and what else the board needs (the Arm boards:
    /// semihosting, which their panic handler ends QEMU with; the RISC-V
    /// board: no firmware, the image in M-mode).
    machine: &'static [&'static str],
    /// QEMU's arguments that put the board's NIC on the TAP `tap0`.
    nic_args: &'static [&'static str],
    /// The driver, as the boot log's `ready on NIC` names it.
    nic: &'static str,
}

const TARGET_M3: &str = "thumbv7m-none-eabi";
/// The Cortex-M3 without forced frame pointers: the smallest image's
/// target (firmware/thumbv7m-nofp-none-eabi.json).
const TARGET_M3_NOFP: &str = "thumbv7m-nofp-none-eabi";
const TARGET_M4F: &str = "thumbv7em-none-eabihf";
const TARGET_RV32IMAC: &str = "riscv32imac-unknown-none-elf";

const QEMU_ARM: &str = "qemu-system-arm";
const QEMU_RISCV32: &str = "qemu-system-riscv32";

/// QEMU's mps2-an385: a Cortex-M3 with an SMSC LAN9118.
const MPS2_AN385: BoardSpec = BoardSpec {
    name: "mps2-an385",
    bin: "udpkit-mps2-an385",
    target: TARGET_M3,
    qemu: QEMU_ARM,
    machine: &[
        "-M",
        "mps2-an385",
        "-semihosting-config",
        "enable=on,target=native",
    ],
    nic_args: &[
        "-nic",
        "tap,ifname=tap0,script=no,downscript=no,model=lan9118",
    ],
    nic: "lan9118",
};

/// TI's Stellaris LM3S6965 evaluation board: a Cortex-M3 with the chip's
/// own Ethernet controller.
const LM3S6965EVB: BoardSpec = BoardSpec {
    name: "lm3s6965evb",
    bin: "udpkit-lm3s6965evb",
    target: TARGET_M3,
    qemu: QEMU_ARM,
    machine: &[
        "-M",
        "lm3s6965evb",
        "-semihosting-config",
        "enable=on,target=native",
    ],
    nic_args: &[
        "-nic",
        "tap,ifname=tap0,script=no,downscript=no,model=stellaris",
    ],
    nic: "stellaris-enet",
};

/// QEMU's RISC-V virt board: an RV32IMAC hart with virtio-net over MMIO
/// (its `-device virtio-net-device`, not PCI), the MAC address the
/// firmware is configured with.
const RISCV_VIRT: BoardSpec = BoardSpec {
    name: "riscv-virt",
    bin: "udpkit-riscv-virt",
    target: TARGET_RV32IMAC,
    qemu: QEMU_RISCV32,
    machine: &["-M", "virt", "-bios", "none"],
    nic_args: &[
        "-netdev",
        "tap,id=net0,ifname=tap0,script=no,downscript=no",
        "-device",
        "virtio-net-device,netdev=net0,mac=02:00:00:00:00:01",
    ],
    nic: "virtio-net",
};

/// The firmware's address, and the Linux side of its TAP.
const FIRMWARE_IP: &str = "192.168.69.1";
const FIRMWARE_IP6: &str = "fdaa::1";
const HOST_IP: &str = "192.168.69.100";
const HOST_CIDR: &str = "192.168.69.100/24";
const SUBNET_BROADCAST: &str = "192.168.69.255";

/// The host binary: the board's NTP upstream, and clients.
const UDPKIT: &str = env!("CARGO_BIN_EXE_udpkit");

/// How far from the host clock the board's time may be, once synced
/// (time and daytime have whole seconds).
const CLOCK_TOLERANCE_SECS: f64 = 2.0;

/// The firmware's SNTP client asks 15 s, 30 s, then every 60 s after a
/// failure: once the upstream answers, the board syncs within this (the
/// longest wait, its 2 s timeout, and room for a loaded machine).
const SYNC_LIMIT: Duration = Duration::from_secs(90);

/// Debian's toolchain, as firmware/ci-setup.sh installs it.
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const RUST_SRC: &str = "/usr/lib/rustlib/src/rust/library/core";
const LINKER: &str = "/usr/bin/ld.lld-22";
const SETUP_HINT: &str = "install it with `sudo bash firmware/ci-setup.sh` \
    (Debian 12: rustc-web cargo-web rust-web-src lld-22 qemu-system-arm qemu-system-misc)";

/// A cold build fetches crates and compiles `core`: allow for a slow machine.
const BUILD_LIMIT: Duration = Duration::from_secs(20 * 60);

fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware")
}

fn board_dir(board: &BoardSpec) -> PathBuf {
    firmware_dir().join(board.name)
}

fn target_dir() -> PathBuf {
    firmware_dir().join("target")
}

fn elf(board: &BoardSpec, target: &str) -> PathBuf {
    target_dir().join(target).join("release").join(board.bin)
}

// --- Bounded commands ---------------------------------------------------------

/// How long a client in the namespace may run: every one here also runs
/// under its own, shorter `timeout`.
const CLIENT_LIMIT: Duration = Duration::from_secs(30);

/// Prints `text` where it is seen even when the test harness captures
/// output (the footprint, the measurements, a skipped test): straight to
/// the process's stderr, which `cargo test` does not capture.
fn show(text: &str) {
    let _ = writeln!(std::io::stderr(), "{}", text.trim_end());
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// --- The Debian toolchain -------------------------------------------------------

/// Panics, naming firmware/ci-setup.sh, unless Debian's toolchain is here.
fn require_toolchain() {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    let check = CHECK.get_or_init(|| {
        let missing: Vec<&str> = [DEBIAN_CARGO, DEBIAN_RUSTC, RUST_SRC, LINKER]
            .into_iter()
            .filter(|p| !Path::new(p).exists())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the firmware is built with Debian's Rust toolchain, and {} is missing: {SETUP_HINT}",
                missing.join(", ")
            ))
        }
    });
    if let Err(problem) = check {
        panic!("{problem}");
    }
}

/// Debian's cargo in `dir`, with none of the host build's environment
/// (rustup's toolchain choice, flags, target dir) leaking in: the firmware
/// has its own toolchain (firmware/rust-toolchain.toml names it for plain
/// `cargo`) and its own target dir, so it never waits on the host build's
/// lock.
fn debian_cargo(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(DEBIAN_CARGO);
    cmd.current_dir(dir).args(args);
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let keep = ["CARGO_HOME", "CARGO_HTTP_", "CARGO_NET_", "CARGO_REGISTR"]
            .iter()
            .any(|k| key.starts_with(k));
        // UDPKIT_SNTP_SERVER would point the image at another NTP server
        // than the one this test runs.
        if (key.starts_with("CARGO") && !keep)
            || key.starts_with("RUST")
            || key.starts_with("UDPKIT_SNTP")
            || key == "LD_LIBRARY_PATH"
        {
            cmd.env_remove(key);
        }
    }
    cmd.env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        .env("RUSTC", DEBIAN_RUSTC)
        .env("RUSTDOC", "/usr/bin/rustdoc")
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", target_dir())
        .env("CARGO_TERM_COLOR", "never");
    cmd
}

/// Builds `board`'s release image for `target` once per test run; the ELF.
fn build(board: &'static BoardSpec, target: &'static str) -> PathBuf {
    build_variant(board, target, None)
}

/// An image built with other cargo features than the default one.
struct Variant {
    /// Cargo's feature arguments.
    features: &'static [&'static str],
    /// Its copy is the image's name with `-<suffix>`.
    suffix: &'static str,
    /// A target of its own instead of the one asked for: the name of a
    /// target spec in firmware/ (`NAME.json`), built with
    /// `-Zjson-target-spec`, its image in the target dir's `NAME/`.
    target_spec: Option<&'static str>,
}

/// The runtime asking DHCP for the address (firmware/README.md).
const DHCP: Variant = Variant {
    features: &["--features", "udpkit-runtime/dhcp"],
    suffix: "dhcp",
    target_spec: None,
};

/// The smallest image of an Arm board: echo, time and the SNTP client that
/// sets the clock time answers from; ping, answered by smoltcp itself.
/// IPv4 only: the runtime's `ipv6` feature is one of its defaults, left
/// out here, and so is its `console` (no `log`, no `core::fmt`: plain
/// boot lines and a short report). Every panic is an abort
/// (`-Cpanic=immediate-abort`, added to the target's rustflags of
/// firmware/.cargo/config.toml): a trap the fault handler reports with
/// its address, instead of panic messages and their places in flash.
/// Optimised for size alone (`opt-level = "z"`), with the trait methods
/// no call reaches left out of the vtables
/// (`-Zvirtual-function-elimination`, which wants `-Clto` among the
/// flags) and identical functions folded by the linker (`--icf=all`)
/// Built for [`TARGET_M3_NOFP`], the Cortex-M3's target without its
/// forced frame pointers (firmware/thumbv7m-nofp-none-eabi.json), with
/// the board's small `memcpy`, `memmove` and `memset` (`small-mem`)
/// (firmware/README.md, Choosing the services and Footprint).
const MINIMAL: Variant = Variant {
    features: &[
        "--no-default-features",
        "--features",
        "semihosting,small-mem,udpkit-runtime/ram-16k,udpkit-runtime/echo,udpkit-runtime/time,udpkit-runtime/sntp",
        "--config",
        r#"profile.release.opt-level="z""#,
        "--config",
        r#"target.thumbv7m-nofp-none-eabi.rustflags=["-Zunstable-options", "-Cpanic=immediate-abort", "-Clto=fat", "-Zvirtual-function-elimination", "-Clink-arg=--icf=all"]"#,
    ],
    suffix: "minimal",
    target_spec: Some(TARGET_M3_NOFP),
};

/// [`MINIMAL`] with the board's `division-check`: at boot it divides a few
/// thousand 64-bit numbers with the small images' `__aeabi_uldivmod`
/// (firmware/mps2-an385/src/div.rs) and checks every quotient and
/// remainder before it starts (what else divides so runs in no test:
/// smoltcp's router advertisements).
const DIVISION_CHECK: Variant = Variant {
    features: &[
        "--no-default-features",
        "--features",
        "semihosting,small-mem,division-check,udpkit-runtime/ram-16k,udpkit-runtime/echo,udpkit-runtime/time,udpkit-runtime/sntp",
        "--config",
        r#"profile.release.opt-level="z""#,
        "--config",
        r#"target.thumbv7m-nofp-none-eabi.rustflags=["-Zunstable-options", "-Cpanic=immediate-abort", "-Clto=fat", "-Zvirtual-function-elimination", "-Clink-arg=--icf=all"]"#,
    ],
    suffix: "division-check",
    target_spec: Some(TARGET_M3_NOFP),
};

/// Every service, the SNTP client, IPv6 and discovery without the
/// runtime's `console` (as [`MINIMAL`]: no `log`, no `core::fmt`), in the
/// size class `ram-32k` (1514-byte frames, one datagram per queue, a room
/// of 16 hosts, a chat of 8), with [`MINIMAL`]'s build settings (its
/// target without frame pointers and `small-mem` too: 3.5 KiB less flash,
/// 96 bytes less stack): issue 13's whole image in 64 KiB of flash and 32
/// KiB of RAM.
const LEAN: Variant = Variant {
    features: &[
        "--no-default-features",
        "--features",
        "semihosting,small-mem,udpkit-runtime/ram-32k,udpkit-runtime/echo,udpkit-runtime/discard,\
         udpkit-runtime/daytime,udpkit-runtime/time,udpkit-runtime/ntp,udpkit-runtime/upper,\
         udpkit-runtime/hello,udpkit-runtime/chat,udpkit-runtime/discovery,udpkit-runtime/sntp,\
         udpkit-runtime/ipv6",
        "--config",
        r#"profile.release.opt-level="z""#,
        "--config",
        r#"target.thumbv7m-nofp-none-eabi.rustflags=["-Zunstable-options", "-Cpanic=immediate-abort", "-Clto=fat", "-Zvirtual-function-elimination", "-Clink-arg=--icf=all"]"#,
    ],
    suffix: "lean",
    target_spec: Some(TARGET_M3_NOFP),
};

/// Issue 13's goal for the whole image ([`LEAN`]): flash, and statics with
/// the stack's high-water mark, in bytes. The footprint test holds the
/// flash to the image's ceiling below it, the lean image's end-to-end test
/// its RAM to the goal.
const LEAN_FLASH_GOAL: usize = 64 * 1024;
const LEAN_RAM_GOAL: usize = 32 * 1024;

/// [`build`], of `variant` when given: its image is copied beside the
/// default one, which is built again at once (cargo puts every variant's
/// image at the same path; an up-to-date build puts the default one back
/// there), so that neither is ever found in the other's place. A variant
/// with a target of its own ([`Variant::target_spec`]) is built there
/// instead of for `target`, and copied beside its own image.
fn build_variant(
    board: &'static BoardSpec,
    target: &'static str,
    variant: Option<&'static Variant>,
) -> PathBuf {
    require_toolchain();
    type Builds = HashMap<(&'static str, &'static str, &'static str), Result<PathBuf, String>>;
    static BUILDS: OnceLock<Mutex<Builds>> = OnceLock::new();
    let builds = BUILDS.get_or_init(Default::default);
    // One build at a time (they share the target dir); each image once.
    let mut done = builds.lock().unwrap_or_else(|e| e.into_inner());
    let suffix = variant.map_or("", |v| v.suffix);
    let result = done.entry((board.name, target, suffix)).or_insert_with(|| {
        let default_args = ["build", "--release", "--locked", "--target", target];
        let spec = variant.and_then(|v| v.target_spec);
        let spec_path = spec.map(|name| format!("../{name}.json"));
        let mut args = default_args.to_vec();
        if let Some(spec_path) = &spec_path {
            args = vec![
                "build",
                "--release",
                "--locked",
                "-Zjson-target-spec",
                "--target",
                spec_path,
            ];
        }
        if let Some(variant) = variant {
            args.extend(variant.features);
        }
        let out = run_bounded(&mut debian_cargo(&board_dir(board), &args), BUILD_LIMIT);
        eprintln!(
            "firmware: built {} for {target} in {:.1?}",
            board.name, out.elapsed
        );
        if !out.success() {
            let lock_hint = if out.stderr_str().contains("--locked") {
                "\nfirmware/Cargo.lock is out of date (did the core's dependencies change?): \
                 run `cargo update --workspace` in firmware/ and commit it"
            } else {
                ""
            };
            return Err(format!(
                "the {} firmware does not build for {target}:{lock_hint}\n{}",
                board.name,
                out.describe_tail(60)
            ));
        }
        let Some(variant) = variant else {
            return Ok(elf(board, target));
        };
        let image = elf(board, spec.unwrap_or(target));
        let copy = image.with_file_name(format!("{}-{}", board.bin, variant.suffix));
        fs::copy(&image, &copy).map_err(|e| format!("copying {}: {e}", image.display()))?;
        if spec.is_some() {
            // Its own target dir: the default image was not in its way.
            return Ok(copy);
        }
        let again = run_bounded(
            &mut debian_cargo(&board_dir(board), &default_args),
            BUILD_LIMIT,
        );
        if !again.success() {
            return Err(format!(
                "rebuilding the default image after the {} variant:\n{}",
                variant.suffix,
                again.describe_tail(60)
            ));
        }
        Ok(copy)
    });
    match result {
        Ok(path) => path.clone(),
        Err(problem) => panic!("{problem}"),
    }
}

/// The ELF header's machine (40: Arm, 243: RISC-V) and flags.
fn elf_machine_and_flags(path: &Path) -> (u16, u32) {
    let data = fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert_eq!(
        &data[..4],
        b"\x7fELF",
        "{} is not an ELF file",
        path.display()
    );
    assert_eq!(data[4], 1, "32-bit ELF");
    let machine = u16::from_le_bytes([data[0x12], data[0x13]]);
    let flags = u32::from_le_bytes([data[0x24], data[0x25], data[0x26], data[0x27]]);
    (machine, flags)
}

// --- Build, footprint and driver tests ------------------------------------------

#[test]
fn firmware_builds_for_cortex_m3_and_m4f() {
    const EM_ARM: u16 = 40;
    const EF_ARM_ABI_FLOAT_HARD: u32 = 0x400;
    let m3 = build(&MPS2_AN385, TARGET_M3);
    let (machine, flags) = elf_machine_and_flags(&m3);
    assert_eq!(machine, EM_ARM);
    assert_eq!(flags & EF_ARM_ABI_FLOAT_HARD, 0, "soft-float for the M3");
    let m4f = build(&MPS2_AN385, TARGET_M4F);
    let (machine, flags) = elf_machine_and_flags(&m4f);
    assert_eq!(machine, EM_ARM);
    assert_ne!(
        flags & EF_ARM_ABI_FLOAT_HARD,
        0,
        "hard-float ABI for the M4F"
    );
}

/// The RISC-V board's image: 32-bit RISC-V, compressed instructions (the
/// C of RV32IMAC), soft-float ABI.
#[test]
fn riscv_virt_builds_for_rv32imac() {
    const EM_RISCV: u16 = 243;
    const EF_RISCV_RVC: u32 = 0x1;
    const EF_RISCV_FLOAT_ABI: u32 = 0x6;
    let image = build(&RISCV_VIRT, TARGET_RV32IMAC);
    let (machine, flags) = elf_machine_and_flags(&image);
    assert_eq!(machine, EM_RISCV);
    assert_ne!(flags & EF_RISCV_RVC, 0, "compressed instructions");
    assert_eq!(flags & EF_RISCV_FLOAT_ABI, 0, "soft-float ABI");
}

/// What an image may take at most, in bytes: its footprint when the
/// ceiling was last lowered, and a little room. A change that grows an
/// image past its ceiling fails here; one that shrinks it should lower the
/// ceiling (the README's footprint table has the figures). The goal (issue
/// 13): everything in 64 KiB of flash and 32 KiB of RAM (statics and
/// stack), echo + time + ping in 24 KiB and 12 KiB.
struct Ceiling {
    /// The image's file name, as footprint.py prints it.
    image: &'static str,
    target: &'static str,
    flash: usize,
    static_ram: usize,
}

const CEILINGS: &[Ceiling] = &[
    Ceiling {
        image: "udpkit-mps2-an385",
        target: TARGET_M3,
        flash: 111_000,
        static_ram: 51_000,
    },
    Ceiling {
        image: "udpkit-mps2-an385",
        target: TARGET_M4F,
        flash: 111_300,
        static_ram: 51_000,
    },
    Ceiling {
        image: "udpkit-mps2-an385-dhcp",
        target: TARGET_M3,
        flash: 121_300,
        static_ram: 53_700,
    },
    Ceiling {
        image: "udpkit-mps2-an385-minimal",
        target: TARGET_M3_NOFP,
        flash: 24_576,
        static_ram: 7_300,
    },
    // Within issue 13's goal, LEAN_FLASH_GOAL (64,860 measured) and
    // LEAN_RAM_GOAL with the stack (29,320 statics): the figures of now,
    // and the room to the goal is shown
    // (firmware_footprint_fits_a_small_mcu).
    Ceiling {
        image: "udpkit-mps2-an385-lean",
        target: TARGET_M3_NOFP,
        flash: 64_950,
        static_ram: 29_400,
    },
    Ceiling {
        image: "udpkit-lm3s6965evb",
        target: TARGET_M3,
        flash: 110_600,
        static_ram: 51_100,
    },
    Ceiling {
        image: "udpkit-riscv-virt",
        target: TARGET_RV32IMAC,
        flash: 150_500,
        static_ram: 72_400,
    },
];

/// Every image's footprint, printed as a table (`--nocapture`), within its
/// board's memory (footprint.py's check against memory.x) and within its
/// [`CEILINGS`].
#[test]
fn firmware_footprint_fits_a_small_mcu() {
    let images = [
        build(&MPS2_AN385, TARGET_M3),
        build(&MPS2_AN385, TARGET_M4F),
        build_variant(&MPS2_AN385, TARGET_M3, Some(&DHCP)),
        build_variant(&MPS2_AN385, TARGET_M3, Some(&MINIMAL)),
        build_variant(&MPS2_AN385, TARGET_M3, Some(&LEAN)),
        build(&LM3S6965EVB, TARGET_M3),
        build(&RISCV_VIRT, TARGET_RV32IMAC),
    ];
    let out = run_bounded(
        Command::new("python3")
            .arg(firmware_dir().join("footprint.py"))
            .args(&images),
        Duration::from_secs(60),
    );
    assert!(out.success(), "footprint.py: {}", out.describe());
    show(&out.stdout_str());
    let text = out.stdout_str();
    let footprints = parse_footprints(&text);
    assert_eq!(footprints.len(), images.len(), "{text}");
    if let Some((flash, static_ram)) = footprints
        .get(&(
            "udpkit-mps2-an385-lean".to_string(),
            TARGET_M3_NOFP.to_string(),
        ))
        .copied()
    {
        show(&format!(
            "the lean image: flash {flash} bytes, issue 13's goal {LEAN_FLASH_GOAL} ({}); \
             statics {static_ram} bytes, the goal with the stack {LEAN_RAM_GOAL}",
            if flash <= LEAN_FLASH_GOAL {
                "met"
            } else {
                "not met"
            }
        ));
    }
    for ceiling in CEILINGS {
        let (flash, static_ram) = footprints
            .get(&(ceiling.image.to_string(), ceiling.target.to_string()))
            .copied()
            .unwrap_or_else(|| panic!("no footprint of {} ({})", ceiling.image, ceiling.target));
        assert!(
            flash <= ceiling.flash && static_ram <= ceiling.static_ram,
            "{} ({}) grew: flash {flash} bytes (ceiling {}), static RAM {static_ram} bytes \
             (ceiling {}). Find what grew (llvm-nm -S --size-sort --demangle) before raising \
             the ceiling.\n{text}",
            ceiling.image,
            ceiling.target,
            ceiling.flash,
            ceiling.static_ram
        );
    }
}

/// footprint.py's table: (image, target) -> (flash, static RAM) in bytes.
fn parse_footprints(text: &str) -> HashMap<(String, String), (usize, usize)> {
    let mut footprints = HashMap::new();
    let mut image = None;
    let mut flash = None;
    for line in text.lines() {
        // `udpkit-mps2-an385 (thumbv7m-none-eabi), budget from ...`
        if let Some((name, rest)) = line.split_once(" (") {
            if !line.starts_with(' ') {
                let target = rest.split(')').next().unwrap_or_default();
                image = Some((name.to_string(), target.to_string()));
                continue;
            }
        }
        let bytes = |label: &str| -> Option<usize> {
            line.trim_start()
                .strip_prefix(label)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        };
        if let Some(value) = bytes("flash ") {
            flash = Some(value);
        } else if let Some(value) = bytes("ram: statics ") {
            if let (Some(key), Some(flash)) = (image.take(), flash.take()) {
                footprints.insert(key, (flash, value));
            }
        }
    }
    footprints
}

/// Runs a driver crate's unit tests (against its simulated chip) with
/// Debian's cargo; how many passed.
fn driver_unit_tests(krate: &str) -> usize {
    require_toolchain();
    let out = run_bounded(
        &mut debian_cargo(&firmware_dir(), &["test", "--locked", "-p", krate]),
        BUILD_LIMIT,
    );
    assert!(
        out.success(),
        "{krate} unit tests: {}",
        out.describe_tail(60)
    );
    let passed: usize = out
        .stdout_str()
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(
        passed >= 20,
        "expected the driver's unit tests to run: {}",
        out.describe_tail(60)
    );
    show(&format!(
        "{krate} driver: {passed} unit tests passed on the host"
    ));
    passed
}

#[test]
fn lan9118_driver_unit_tests_pass_on_the_host() {
    driver_unit_tests("lan9118");
}

#[test]
fn stellaris_enet_driver_unit_tests_pass_on_the_host() {
    driver_unit_tests("stellaris-enet");
}

/// The firmware runtime's tests: the start-up from the catalog, discovery's
/// directory, echo, the SNTP start-up and the console, through the loop on
/// the core's in-memory board.
#[test]
fn firmware_runtime_unit_tests_pass_on_the_host() {
    require_toolchain();
    let out = run_bounded(
        &mut debian_cargo(
            &firmware_dir(),
            &["test", "--locked", "-p", "udpkit-runtime"],
        ),
        BUILD_LIMIT,
    );
    assert!(
        out.success(),
        "udpkit-runtime unit tests: {}",
        out.describe_tail(60)
    );
    let passed: usize = out
        .stdout_str()
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(
        passed >= 3,
        "expected the runtime's unit tests to run: {}",
        out.describe_tail(60)
    );
    show(&format!(
        "firmware runtime: {passed} unit tests passed on the host"
    ));
}

// --- The network namespace --------------------------------------------------------

/// The tools the end-to-end tests use, with the Debian package of each.
const E2E_TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("nc", "netcat-openbsd"),
    ("ping", "iputils-ping"),
    ("rdate", "rdate"),
    ("ntpdate", "ntpdate"),
    ("python3", "python3"),
    ("timeout", "coreutils"),
    ("setpriv", "util-linux"),
];

/// Whether the end-to-end test `test` runs: `false` with
/// `UDPKIT_SKIP_E2E=1`; panics, saying what to do, when it cannot (not
/// root, a tool or QEMU missing). The namespace, its checks and its
/// clean-up are the host tests' own ([`Netns`]).
fn e2e_preflight(test: &str, board: &BoardSpec) -> bool {
    if !support::preflight_with(test, E2E_TOOLS) {
        show(&format!(
            "{test}: SKIPPED end-to-end test (UDPKIT_SKIP_E2E=1)"
        ));
        return false;
    }
    if find_in_path(board.qemu).is_none() {
        panic!("{test}: `{}` is missing: {SETUP_HINT}", board.qemu);
    }
    true
}

/// A private network namespace for `test`, deleted (with everything in it)
/// on drop; after [`e2e_preflight`].
fn namespace(test: &str) -> Netns {
    Netns::with_tools(test, E2E_TOOLS).expect("the end-to-end tests run")
}

/// Asserts that the namespace `name` is gone.
#[track_caller]
fn assert_namespace_gone(name: &str) {
    let list = run_bounded(
        Command::new("ip").args(["netns", "list"]),
        Duration::from_secs(20),
    )
    .stdout_str();
    assert!(
        !list
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name)),
        "namespace {name} still exists:\n{list}"
    );
}

// --- QEMU --------------------------------------------------------------------

/// QEMU running the image, its UART on a Unix socket that a thread reads
/// into `uart` (and a log file), its Ethernet on `tap0` in the namespace.
struct Qemu {
    child: Child,
    /// The QEMU binary's name.
    program: &'static str,
    uart: Arc<Mutex<Vec<u8>>>,
    console: UnixStream,
    socket_dir: PathBuf,
    log: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Qemu {
    fn start(ns: &Netns, board: &BoardSpec, image: &Path) -> Qemu {
        // A Unix socket path must be short (108 bytes): under /tmp.
        let socket_dir = std::env::temp_dir().join(format!("{}sock", ns.name()));
        let _ = fs::remove_dir_all(&socket_dir);
        fs::create_dir_all(&socket_dir).expect("socket dir");
        let socket = socket_dir.join("uart");
        let stdout = scratch(ns.dir(), "qemu.stdout");
        let stderr = scratch(ns.dir(), "qemu.stderr");
        let log = scratch(ns.dir(), "uart.log");
        let chardev = format!("socket,id=uart,path={},server=on,wait=on", socket.display());
        let image = image.to_str().expect("UTF-8 path");
        let mut argv = vec!["timeout", "-k", "5", "300", board.qemu];
        argv.extend_from_slice(board.machine);
        argv.extend_from_slice(&[
            "-nographic",
            "-monitor",
            "none",
            "-chardev",
            &chardev,
            "-serial",
            "chardev:uart",
        ]);
        argv.extend_from_slice(board.nic_args);
        argv.extend_from_slice(&["-kernel", image]);
        let mut child = ns
            .command(&argv)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("stdout file"))
            .stderr(File::create(&stderr).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", board.qemu));
        // QEMU waits for us to connect before it runs the board, so no
        // boot output is lost.
        let deadline = Instant::now() + Duration::from_secs(20);
        let console = loop {
            if let Ok(stream) = UnixStream::connect(&socket) {
                break stream;
            }
            if let Some(status) = child.try_wait().expect("try_wait") {
                panic!(
                    "QEMU exited ({status}) before its UART socket was up: {}",
                    fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!("QEMU's UART socket {} never appeared", socket.display());
            }
            thread::sleep(Duration::from_millis(50));
        };
        let uart = Arc::new(Mutex::new(Vec::new()));
        let mut reader = console.try_clone().expect("clone socket");
        let sink = Arc::clone(&uart);
        let mut file = File::create(&log).expect("uart log");
        thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            // Ends when QEMU closes the socket (it exits).
            while let Ok(n @ 1..) = reader.read(&mut buffer) {
                let _ = file.write_all(&buffer[..n]);
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&buffer[..n]);
            }
        });
        Qemu {
            child,
            program: board.qemu,
            uart,
            console,
            socket_dir,
            log,
            stdout,
            stderr,
        }
    }

    /// Everything the UART printed so far (CR LF as LF).
    fn uart_text(&self) -> String {
        let bytes = self.uart.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8_lossy(&bytes).replace("\r\n", "\n")
    }

    fn describe(&self) -> String {
        format!(
            "--- UART ({}) ---\n{}\n--- QEMU stderr ---\n{}",
            self.log.display(),
            tail(&self.uart_text(), 80),
            fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    /// Waits, bounded, until the UART output after byte `from` contains
    /// `needle` and the rest of its line; the output from `from` on.
    fn wait_for(&mut self, from: usize, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.uart_text();
            let after = text.get(from..).unwrap_or("");
            // The whole line the needle is on: the UART may have given only
            // part of it so far (a check of the rest of that line raced it).
            if after
                .find(needle)
                .is_some_and(|at| after.get(at..).is_some_and(|line| line.contains('\n')))
            {
                return after.to_string();
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "QEMU exited ({status}) while waiting for {needle:?}\n{}",
                    self.describe()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "no {needle:?} on the UART after {limit:?}\n{}",
                    self.describe()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Presses `key` on the console.
    fn press(&mut self, key: u8) {
        self.console.write_all(&[key]).expect("write to the UART");
    }

    /// Asks for the `s` report and returns it.
    fn report(&mut self) -> Report {
        let text = self.report_text();
        Report::parse(&text)
    }

    /// Asks for the short `s` report of an image without the runtime's
    /// `console` feature (each service's counts and the RAM: no clock, no
    /// neighbors) and returns it.
    fn short_report(&mut self) -> Report {
        let text = self.report_text();
        Report::parse_lines(&text)
    }

    /// The `s` report's text.
    fn report_text(&mut self) -> String {
        let from = self.uart_text().len();
        self.press(b's');
        self.wait_for(from, "--- end of report ---", Duration::from_secs(10))
    }

    /// QEMU's own process (the child is `timeout`, its parent).
    fn qemu_pid(&self) -> i32 {
        let parent = self.child.id().to_string();
        for entry in fs::read_dir("/proc").expect("/proc").flatten() {
            let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid ...
            let Some((head, rest)) = stat.rsplit_once(") ") else {
                continue;
            };
            let ppid = rest.split(' ').nth(1).unwrap_or("");
            // The kernel keeps 15 bytes of a command's name:
            // `qemu-system-ris` for qemu-system-riscv32.
            let comm = &self.program[..self.program.len().min(15)];
            if head.ends_with(&format!("({comm}")) && ppid == parent {
                return entry
                    .file_name()
                    .to_str()
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0);
            }
        }
        panic!("QEMU's process not found under {parent}");
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if thread::panicking() {
            eprintln!("{}", self.describe());
        } else {
            for path in [&self.log, &self.stderr, &self.stdout] {
                let _ = fs::remove_file(path);
            }
        }
        let _ = fs::remove_dir_all(&self.socket_dir);
    }
}

/// User plus system CPU time of `pid`, from /proc.
fn cpu_time(pid: i32) -> Duration {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat of QEMU");
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .expect("stat format")
        .1
        .split(' ')
        .collect();
    // After "pid (comm) ": state is field 0, utime 11, stime 12.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

/// The counters of the console's `s` report.
struct Report {
    text: String,
    /// service name -> (received, sent, discarded for no wall clock)
    services: HashMap<String, (u64, u64, u64)>,
    /// (service name, counter name) -> value: the service's own counters
    /// (`  counters: name value, name value`).
    counters: HashMap<(String, String), u64>,
    /// The `clock: ...` line, after `clock: `.
    clock: String,
    stack_used: usize,
    stack_size: usize,
    static_ram: usize,
    /// The `neighbors: ...` line.
    neighbors: Neighbors,
}

/// The neighbor table's counters, from the report's line
/// `neighbors: K of C, taught T, evicted E, unresolved U, resolutions R,
/// cache emptied F, foreign G`.
#[derive(Debug, Clone, Copy, Default)]
struct Neighbors {
    known: u64,
    capacity: u64,
    taught: u64,
    evicted: u64,
    /// Datagrams to on-link hosts the table did not know.
    unresolved: u64,
    /// ARP requests and neighbor solicitations the board sent.
    resolutions: u64,
}

impl Neighbors {
    fn parse(line: &str) -> Neighbors {
        let rest = line.strip_prefix("neighbors: ").unwrap_or(line);
        let number = |name: &str| -> u64 {
            rest.split(", ")
                .find_map(|field| field.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no {name:?} in {line:?}"))
        };
        let (known, capacity) = rest
            .split(", ")
            .next()
            .and_then(|first| first.split_once(" of "))
            .and_then(|(k, c)| Some((k.parse().ok()?, c.parse().ok()?)))
            .unwrap_or_else(|| panic!("no \"K of C\" in {line:?}"));
        Neighbors {
            known,
            capacity,
            taught: number("taught"),
            evicted: number("evicted"),
            unresolved: number("unresolved"),
            resolutions: number("resolutions"),
        }
    }
}

impl Report {
    /// The full report: with the clock, the neighbors and the RAM.
    fn parse(text: &str) -> Report {
        let report = Report::parse_lines(text);
        assert!(
            report.stack_size > 0,
            "no stack line in the report:\n{text}"
        );
        assert!(
            !report.clock.is_empty(),
            "no clock line in the report:\n{text}"
        );
        assert!(
            report.neighbors_line().starts_with("neighbors: "),
            "no neighbors line in the report:\n{text}"
        );
        report
    }

    /// Whatever lines of a report `text` has: a service's (received and
    /// sent at least), its counters, the clock, the neighbors, the RAM.
    fn parse_lines(text: &str) -> Report {
        let number_after = |line: &str, word: &str| -> u64 {
            let words: Vec<&str> = line.split_whitespace().collect();
            let i = words
                .iter()
                .position(|w| w.trim_start_matches('(') == word)
                .unwrap_or_else(|| panic!("no {word:?} in {line:?}"));
            words[i + 1]
                .trim_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .unwrap_or_else(|_| panic!("no number after {word:?} in {line:?}"))
        };
        let mut services = HashMap::new();
        let mut counters = HashMap::new();
        let mut clock = String::new();
        let mut neighbors = None;
        let mut service = String::new();
        let (mut stack_used, mut stack_size, mut static_ram) = (0, 0, 0);
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("service ") {
                service = rest.split(' ').next().unwrap_or("").to_string();
                // The short report has no refusals and discards.
                let no_wall_clock = if line.contains("no-wall-clock") {
                    number_after(line, "no-wall-clock")
                } else {
                    0
                };
                services.insert(
                    service.clone(),
                    (
                        number_after(line, "received"),
                        number_after(line, "sent"),
                        no_wall_clock,
                    ),
                );
            } else if let Some(rest) = line.strip_prefix("  counters: ") {
                for counter in rest.split(", ") {
                    let (name, value) = counter
                        .rsplit_once(' ')
                        .unwrap_or_else(|| panic!("no counter in {counter:?} of {line:?}"));
                    let value = value
                        .parse()
                        .unwrap_or_else(|_| panic!("no number in {counter:?} of {line:?}"));
                    counters.insert((service.clone(), name.to_string()), value);
                }
            } else if let Some(rest) = line.strip_prefix("clock: ") {
                clock = rest.to_string();
            } else if line.starts_with("neighbors: ") {
                neighbors = Some(Neighbors::parse(line));
            } else if line.starts_with("ram: ") {
                // ram: N bytes static; stack high-water U of S bytes
                static_ram = number_after(line, "ram:") as usize;
                stack_used = number_after(line, "high-water") as usize;
                stack_size = number_after(line, "of") as usize;
            }
        }
        assert!(stack_size > 0, "no stack line in the report:\n{text}");
        Report {
            text: text.to_string(),
            services,
            counters,
            clock,
            stack_used,
            stack_size,
            static_ram,
            neighbors: neighbors.unwrap_or_default(),
        }
    }

    /// The `neighbors: ...` line as printed.
    fn neighbors_line(&self) -> &str {
        self.text
            .lines()
            .find(|l| l.starts_with("neighbors: "))
            .unwrap_or("")
    }

    #[track_caller]
    fn service(&self, name: &str) -> (u64, u64, u64) {
        *self
            .services
            .get(name)
            .unwrap_or_else(|| panic!("no service {name} in the report:\n{}", self.text))
    }

    /// The counter `counter` of `service`'s own.
    #[track_caller]
    fn counter(&self, service: &str, counter: &str) -> u64 {
        *self
            .counters
            .get(&(service.to_string(), counter.to_string()))
            .unwrap_or_else(|| {
                panic!(
                    "no counter {counter:?} of {service} in the report:\n{}",
                    self.text
                )
            })
    }
}

// --- Clients -----------------------------------------------------------------

/// Python: one datagram to `port`; prints `REPLY <hex>` or `SILENT` after
/// `wait` seconds.
const ONE_SHOT: &str = r#"
import socket, sys
host, port, wait, payload = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), bytes.fromhex(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(wait)
s.sendto(payload, (host, port))
try:
    data, _ = s.recvfrom(4096)
    print("REPLY", data.hex())
except (socket.timeout, ConnectionRefusedError):
    print("SILENT")
"#;

fn one_shot(ns: &Netns, port: u16, wait: f64, payload: &[u8]) -> Option<Vec<u8>> {
    let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
    let out = ns
        .run(&[
            "timeout",
            "-k",
            "2",
            "15",
            "python3",
            "-c",
            ONE_SHOT,
            FIRMWARE_IP,
            &port.to_string(),
            &wait.to_string(),
            &hex,
        ])
        .limit(CLIENT_LIMIT)
        .out();
    assert!(out.success(), "{}", out.describe());
    let text = out.stdout_str();
    let mut words = text.split_whitespace();
    match words.next() {
        Some("SILENT") => None,
        Some("REPLY") => {
            let hex = words.next().unwrap_or("");
            Some(
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                    .collect(),
            )
        }
        _ => panic!("unexpected Python output: {}", out.describe()),
    }
}

/// Python: two chat members; alice speaks, bob hears.
const CHAT: &str = r#"
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
def member():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.connect((host, port))
    return s
def line(s):
    return s.recv(2048).decode()
alice, bob = member(), member()
alice.send(b"/nick alice\n"); print("alice:", line(alice), end="")
bob.send(b"/nick bob\n"); print("bob:", line(bob), end="")
print("alice:", line(alice), end="")
alice.send(b"hello from the host\n"); print("bob:", line(bob), end="")
for s in (alice, bob):
    s.send(b"/quit\n")
"#;

/// A chat member as a person joins: `nc -u` to the firmware, its lines
/// typed on its stdin (each write one datagram), what it prints collected
/// by a thread. Killed on drop (and with the namespace in any case).
struct NcMember {
    child: Child,
    stdin: std::process::ChildStdin,
    heard: Arc<Mutex<Vec<u8>>>,
}

impl NcMember {
    fn join(ns: &Netns, port: u16) -> NcMember {
        let mut child = ns
            .command(&[
                "timeout",
                "-k",
                "2",
                "30",
                "nc",
                "-u",
                FIRMWARE_IP,
                &port.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nc -u");
        let stdin = child.stdin.take().expect("nc's stdin");
        let mut stdout = child.stdout.take().expect("nc's stdout");
        let heard = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&heard);
        thread::spawn(move || {
            let mut buffer = [0u8; 2048];
            while let Ok(n @ 1..) = stdout.read(&mut buffer) {
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&buffer[..n]);
            }
        });
        NcMember {
            child,
            stdin,
            heard,
        }
    }

    /// Types `line`; nc sends it as one datagram.
    fn say(&mut self, line: &str) {
        self.stdin.write_all(line.as_bytes()).expect("write to nc");
        self.stdin.flush().expect("flush nc's stdin");
    }

    /// Waits (at most 5 s) until nc has printed `needle`.
    #[track_caller]
    fn expect(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let heard =
                String::from_utf8_lossy(&self.heard.lock().unwrap_or_else(|e| e.into_inner()))
                    .into_owned();
            if heard.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nc -u chat member: no {needle:?} within 5 s; it heard:\n{heard}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NcMember {
    fn drop(&mut self) {
        // SIGTERM to `timeout` (the child), which passes it on to nc.
        // SAFETY: kill(2) on our own child, which has not been reaped.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        if wait_bounded(&mut self.child, Duration::from_secs(5)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Python: a room of hosts, one socket bound to each address, all sending
/// an echo request at the same instant, ROUNDS times. Every reply must
/// come from the firmware's echo port to the socket (so the address) that
/// sent the request, with its bytes. Prints
/// `ROUND n: R/N right, slowest T ms` per round, and a line per missing,
/// stray or altered reply; exits 1 if there was any.
const ROOM_ECHO: &str = r#"
import ipaddress, os, select, socket, sys, time
fw4, fw6, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
rounds, wait = int(sys.argv[4]), float(sys.argv[5])
hosts = []
for address in sys.argv[6:]:
    v6 = ":" in address
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((address, 0))
    s.setblocking(False)
    hosts.append((address, s, (fw6 if v6 else fw4, port)))
failures = 0
for round in range(1, rounds + 1):
    payloads = [f"round {round} from {a} ".encode() + os.urandom(12).hex().encode()
                for a, _, _ in hosts]
    waiting = {s.fileno(): i for i, (_, s, _) in enumerate(hosts)}
    right, slowest = 0, 0.0
    start = time.monotonic()
    for (_, s, to), payload in zip(hosts, payloads):
        s.sendto(payload, to)
    while waiting:
        left = start + wait - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([hosts[i][1] for i in waiting.values()], [], [], left)
        for s in ready:
            i = waiting[s.fileno()]
            address, _, to = hosts[i]
            try:
                data, source = s.recvfrom(4096)
            except BlockingIOError:
                continue
            if ipaddress.ip_address(source[0]) != ipaddress.ip_address(to[0]) or source[1] != port:
                print(f"STRAY round {round}: to {address} from {source[0]} port {source[1]}")
                failures += 1
                continue
            del waiting[s.fileno()]
            if data == payloads[i]:
                right += 1
                slowest = max(slowest, time.monotonic() - start)
            else:
                print(f"ALTERED round {round}: to {address}: {data!r}")
                failures += 1
    for i in waiting.values():
        print(f"MISSING round {round}: no reply to {hosts[i][0]}")
        failures += 1
    print(f"ROUND {round}: {right}/{len(hosts)} right, slowest {slowest * 1000:.1f} ms", flush=True)
sys.exit(1 if failures else 0)
"#;

/// Python: a chat room of one member per address (nick mNN), all joining
/// at once (a join the chat's budget for strangers turns away is asked
/// again a second later, as `udpkit chat` does), then ROUNDS rounds in
/// which every member says one line at the same instant (20 bytes, 100,
/// then the longest message), SILENCE seconds of silence, and one more
/// round of the longest. Every line must reach every member (its sender
/// too: the chat sends it back), byte
/// for byte, and nothing else may arrive. Prints `JOINED`, `NOTICES` and
/// `ROUND name: D/E lines delivered ...` lines, and one per missing or
/// unexpected line; exits 1 if there was any.
const ROOM_CHAT: &str = r#"
import os, select, socket, string, sys, time
fw4, fw6, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
rounds, silence, longest = int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
members = []
for i, address in enumerate(sys.argv[7:]):
    v6 = ":" in address
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((address, 0))
    # Connected: only the chat's own datagrams come in.
    s.connect((fw6 if v6 else fw4, port))
    s.setblocking(False)
    members.append({"nick": f"m{i:02d}", "address": address, "sock": s, "lines": []})
by_fd = {m["sock"].fileno(): m for m in members}
failures = 0

def pump(deadline, done):
    """Reads every member's lines until done() or the deadline."""
    while not done():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        ready, _, _ = select.select([m["sock"] for m in members], [], [], min(left, 0.2))
        for s in ready:
            m = by_fd[s.fileno()]
            while True:
                try:
                    m["lines"].append(s.recv(4096).decode("utf-8", "replace"))
                except BlockingIOError:
                    break

def welcomed(m):
    return any(l.startswith(f"*** welcome {m['nick']}, ") for l in m["lines"])

start = time.monotonic()
tries = 0
while tries < 10 and not all(welcomed(m) for m in members):
    tries += 1
    for m in members:
        if not welcomed(m):
            m["sock"].send(f"/nick {m['nick']}\n".encode())
    pump(time.monotonic() + 1.0, lambda: all(welcomed(m) for m in members))
joined = sum(welcomed(m) for m in members)
print(f"JOINED {joined}/{len(members)} in {time.monotonic() - start:.1f} s, {tries} tries", flush=True)
if joined < len(members):
    sys.exit(1)
# Each member hears of every member that joined after it.
pairs = len(members) * (len(members) - 1) // 2
def notices():
    return sum(l.startswith("*** m") and l.endswith(" joined lobby\n")
               for m in members for l in m["lines"])
pump(time.monotonic() + 5, lambda: notices() >= pairs)
print(f"NOTICES {notices()}/{pairs}", flush=True)
if notices() != pairs:
    failures += 1
for m in members:
    m["lines"] = []

def speak(name, length):
    global failures
    alphabet = string.ascii_letters + string.digits
    texts = {}
    for m in members:
        head = f"{name} {m['nick']} "
        texts[m["nick"]] = head + "".join(alphabet[b % len(alphabet)]
                                          for b in os.urandom(length - len(head)))
    # Every member hears every line, its own included (the chat's echo).
    expected = {m["nick"]: {f"[lobby] <{o['nick']}> {texts[o['nick']]}\n"
                            for o in members}
                for m in members}
    start = time.monotonic()
    for m in members:
        m["sock"].send(texts[m["nick"]].encode())
    def complete():
        return all(expected[m["nick"]] <= set(m["lines"]) for m in members)
    pump(start + 10, complete)
    elapsed = time.monotonic() - start
    delivered = sum(len(expected[m["nick"]] & set(m["lines"])) for m in members)
    total = sum(len(e) for e in expected.values())
    pump(time.monotonic() + 0.3, lambda: False)
    for m in members:
        for line in sorted(expected[m["nick"]] - set(m["lines"])):
            print(f"MISSING round {name}: to {m['nick']} ({m['address']}): {line[:40]!r}...")
            failures += 1
        for line in m["lines"]:
            if line not in expected[m["nick"]]:
                print(f"UNEXPECTED round {name}: to {m['nick']} ({m['address']}): {line!r}")
                failures += 1
        m["lines"] = []
    print(f"ROUND {name}: {delivered}/{total} lines delivered ({length} bytes each) "
          f"in {elapsed * 1000:.0f} ms", flush=True)

for round in range(1, rounds + 1):
    speak(f"r{round}", [20, 100][round - 1] if round <= 2 else longest)
print(f"SILENCE {silence:.0f} s", flush=True)
time.sleep(silence)
speak("after-silence", longest)
sys.exit(1 if failures else 0)
"#;

/// `udpkit ntp HOST`, one request: its report (or its error).
fn udpkit_ntp(ns: &Netns, host: &str) -> Out {
    time_client(
        ns,
        10,
        &[UDPKIT, "ntp", host, "--timeout", "1s", "--retries", "0"],
    )
}

/// The offset in `udpkit ntp`'s `offset -0.000069 s, delay ...` line.
#[track_caller]
fn udpkit_ntp_offset(out: &Out) -> f64 {
    out.stdout_str()
        .lines()
        .find_map(|l| l.strip_prefix("offset "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no offset: {}", out.describe()))
}

#[track_caller]
fn assert_offset_small(offset: f64, what: &str) {
    assert!(
        offset.abs() < CLOCK_TOLERANCE_SECS,
        "{what}: the board's time is {offset} s off the host clock \
         (more than {CLOCK_TOLERANCE_SECS} s)"
    );
}

/// Probes echo at `ip` until the board answers (it may still be coming
/// up), up to 20 tries.
#[track_caller]
fn wait_until_echo_answers(ns: &Netns, qemu: &Qemu, ip: &str) {
    for _ in 0..20 {
        if nc(ns, ip, 7, b"probe\n").stdout == b"probe\n" {
            return;
        }
    }
    panic!("echo never answered at {ip}\n{}", qemu.describe());
}

/// `count` pings to `ip` (IPv4 or IPv6), 0.2 s apart.
fn ping(ns: &Netns, ip: &str, count: u32) -> Out {
    let count = count.to_string();
    let family = if ip.contains(':') { "-6" } else { "-4" };
    ns.run(&[
        "timeout", "-k", "2", "20", "ping", family, "-c", &count, "-W", "2", "-i", "0.2", ip,
    ])
    .limit(CLIENT_LIMIT)
    .out()
}

/// `rdate -u -p` (RFC 868, query only) gets the board's time, and it is
/// the host's.
#[track_caller]
fn assert_rdate_tells_now(ns: &Netns) {
    let before = support::now_unix();
    let out = time_client(ns, 5, &["rdate", "-u", "-p", FIRMWARE_IP]);
    let after = support::now_unix();
    assert!(out.success(), "rdate -u -p: {}", out.describe());
    let text = out.stdout_str();
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let when = line.rsplit('\t').next().unwrap_or(line);
    let secs = support::parse_date_loosely(when)
        .unwrap_or_else(|| panic!("cannot read rdate's date {when:?}: {}", out.describe()));
    support::assert_near_now(secs, before, after, "rdate -u -p (time, RFC 868)");
}

/// The host clock served on the Linux side of the TAP: `udpkit serve
/// --backend kernel --bind 192.168.69.100 --services ntp` in the namespace
/// (stratum 10, as chrony's `local`), the board's NTP upstream, without
/// CAP_SYS_TIME. The host tests' [`Server`]: stopped on drop (and killed
/// with the namespace in any case), its log shown when the test fails.
fn start_upstream(ns: &Netns) -> Server<'_> {
    let mut upstream = Server::spawn_under(
        ns,
        &[
            "timeout",
            "-k",
            "2",
            "280",
            "setpriv",
            "--bounding-set=-sys_time",
            "--inh-caps=-sys_time",
        ],
        &[
            "--backend",
            "kernel",
            "--bind",
            HOST_IP,
            "--services",
            "ntp",
        ],
    );
    // Answering, with the host clock.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = udpkit_ntp(ns, HOST_IP);
        if out.stdout_str().contains("stratum 10") {
            return upstream;
        }
        upstream.assert_running();
        assert!(
            Instant::now() < deadline,
            "the upstream NTP server never answered: {}\n{}",
            out.describe(),
            upstream.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

// --- End to end ------------------------------------------------------------------

#[test]
fn firmware_in_qemu_answers_like_the_host() {
    answers_like_the_host("firmware_in_qemu_answers_like_the_host", &MPS2_AN385);
}

/// The second board, on the same runtime with another driver: everything
/// the mps2-an385 answers, the lm3s6965evb answers too.
#[test]
fn lm3s6965evb_in_qemu_answers_like_the_host() {
    answers_like_the_host("lm3s6965evb_in_qemu_answers_like_the_host", &LM3S6965EVB);
}

/// The third board, not an Arm: RISC-V (RV32IMAC) with virtio-net over
/// MMIO, on the same runtime and core, answers the same.
#[test]
fn riscv_virt_in_qemu_answers_like_the_host() {
    answers_like_the_host("riscv_virt_in_qemu_answers_like_the_host", &RISCV_VIRT);
}

/// `board` in QEMU on a TAP in a namespace of its own, through the
/// services, the clock's coming, discovery, the console's report, idling
/// and a panic (see the module's documentation).
fn answers_like_the_host(test: &str, board: &'static BoardSpec) {
    if !e2e_preflight(test, board) {
        return;
    }
    let image = build(board, board.target);
    let started = Instant::now();
    let ns = namespace(test);
    // The TAP, created before QEMU attaches to it, with the Linux side's
    // address: both only inside the namespace.
    ns.add_tap("tap0", HOST_CIDR);
    let mut qemu = Qemu::start(&ns, board, &image);

    // Boot: the ready line, then a first echo answered.
    let ready = format!("ready on {}", board.nic);
    let boot = qemu.wait_for(0, &ready, Duration::from_secs(30));
    for service in EVERY_SERVICE {
        assert!(
            boot.lines().any(|l| l.contains(&format!(" {service} "))),
            "{service} did not start:\n{boot}"
        );
    }
    assert!(
        boot.contains("192.168.69.1/24") && boot.contains("02:00:00:00:00:01"),
        "{boot}"
    );
    assert!(
        boot.contains("from the NTP server 192.168.69.100:123"),
        "the SNTP client's server:\n{boot}"
    );
    let mut answered = false;
    for _ in 0..20 {
        if one_shot(&ns, 7, 0.5, b"probe").as_deref() == Some(b"probe") {
            answered = true;
            break;
        }
    }
    assert!(answered, "echo never answered\n{}", qemu.describe());
    eprintln!(
        "{test}: booted and answering after {:.1?}",
        started.elapsed()
    );

    // No NTP server on the Linux side yet, so no wall clock: daytime and
    // time stay silent (RFC 868: better no answer than a wrong one), for
    // nc, rdate and Python alike, and NTP answers with a kiss-o'-death.
    let out = nc(&ns, FIRMWARE_IP, 13, b"\n");
    assert!(
        out.stdout.is_empty(),
        "daytime answered: {}",
        out.describe()
    );
    let out = time_client(&ns, 5, &["rdate", "-u", "-p", FIRMWARE_IP]);
    assert!(
        !out.success() && out.stdout.is_empty(),
        "rdate got a time from a board without a clock: {}",
        out.describe()
    );
    assert_eq!(one_shot(&ns, 37, 1.5, b""), None, "time answered");
    assert_eq!(one_shot(&ns, 13, 1.5, b"x"), None, "daytime answered");
    let out = udpkit_ntp(&ns, FIRMWARE_IP);
    assert!(
        !out.success()
            && out
                .stderr_str()
                .contains("kiss-o'-death, code INIT: the server does not know the time yet"),
        "NTP before the clock is set: {}",
        out.describe()
    );
    let report = qemu.report();
    for service in ["daytime", "time"] {
        let (received, sent, no_clock) = report.service(service);
        assert!(received >= 2, "{service} saw nothing:\n{}", report.text);
        assert_eq!(sent, 0, "{service} answered:\n{}", report.text);
        assert_eq!(no_clock, received, "{service}:\n{}", report.text);
    }
    assert_eq!(
        report.counter("ntp", "kiss-o'-death (no wall clock)"),
        1,
        "{}",
        report.text
    );
    assert_eq!(report.counter("ntp", "client requests answered"), 0);
    assert!(report.counter("sntp", "requests") >= 1, "{}", report.text);
    assert_eq!(report.counter("sntp", "replies used"), 0, "{}", report.text);
    assert!(report.clock.starts_with("not set"), "{}", report.text);
    eprintln!(
        "{test}: silent without a clock, kiss-o'-death from NTP, after {:.1?}",
        started.elapsed()
    );

    // Now an NTP server on the Linux side: the board's SNTP client syncs
    // to it at its next request (15 to 60 s apart until one is answered),
    // while the rest of the test goes on.
    let upstream = start_upstream(&ns);
    let upstream_up = Instant::now();
    eprintln!(
        "{test}: upstream NTP server on {HOST_IP} after {:.1?}",
        started.elapsed()
    );

    // Echo, byte for byte, up to the largest unfragmented datagram.
    nc_expect(
        &ns,
        FIRMWARE_IP,
        7,
        b"hello firmware\n",
        b"hello firmware\n",
    );
    nc_expect(&ns, FIRMWARE_IP, 7, b"no newline", b"no newline");
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    nc_expect(&ns, FIRMWARE_IP, 7, &all_bytes, &all_bytes);
    let binary = support::random_bytes(1400);
    let out = nc(&ns, FIRMWARE_IP, 7, &binary);
    assert!(
        out.stdout == binary,
        "1400 random bytes came back altered: {} bytes back",
        out.stdout.len()
    );
    let big = support::random_bytes(1472);
    let out = nc(&ns, FIRMWARE_IP, 7, &big);
    assert_eq!(out.stdout.len(), 1472, "{}", out.describe());
    assert!(out.stdout == big, "1472 random bytes came back altered");

    // The tutorial servers.
    nc_expect(
        &ns,
        FIRMWARE_IP,
        12000,
        b"Hello, World 42!\n",
        b"HELLO, WORLD 42!\n",
    );
    nc_expect(&ns, FIRMWARE_IP, 12001, b"world\n", b"Hello world!\n");
    nc_expect(&ns, FIRMWARE_IP, 12001, b"exit\n", b"Good bye!\n");

    // Chat: two members, a message relayed.
    let out = ns
        .run(&[
            "timeout",
            "-k",
            "2",
            "20",
            "python3",
            "-c",
            CHAT,
            FIRMWARE_IP,
            "5555",
        ])
        .limit(CLIENT_LIMIT)
        .out();
    assert!(out.success(), "chat: {}", out.describe());
    let chat = out.stdout_str();
    for expected in [
        "alice: *** welcome alice, you are in lobby",
        "bob: *** welcome bob, you are in lobby",
        "alice: *** bob joined lobby",
        "bob: [lobby] <alice> hello from the host",
    ] {
        assert!(chat.contains(expected), "chat: no {expected:?} in\n{chat}");
    }
    // And two `nc -u` members, as people join it.
    let mut carol = NcMember::join(&ns, 5555);
    carol.say("/nick carol\n");
    carol.expect("*** welcome carol, you are in lobby");
    let mut dave = NcMember::join(&ns, 5555);
    dave.say("/nick dave\n");
    dave.expect("*** welcome dave, you are in lobby");
    carol.expect("*** dave joined lobby");
    carol.say("hi dave, from nc\n");
    dave.expect("[lobby] <carol> hi dave, from nc");
    dave.say("hello carol\n");
    carol.expect("[lobby] <dave> hello carol");
    drop((carol, dave));

    // Ping: every request answered, the first one included.
    let out = ping(&ns, FIRMWARE_IP, 3);
    assert!(
        out.success() && out.stdout_str().contains("3 received"),
        "ping: {}",
        out.describe()
    );

    // IPv6: the host finds the board by neighbor discovery, through the
    // NIC's multicast filter (the solicited-node group), and both ping and
    // echo answer on fdaa::1.
    ns.run(&["ip", "addr", "add", "fdaa::100/64", "dev", "tap0", "nodad"])
        .out()
        .ok();
    let out = ping(&ns, FIRMWARE_IP6, 3);
    assert!(
        out.success() && out.stdout_str().contains("3 received"),
        "ping -6: {}",
        out.describe()
    );
    let out = nc(&ns, FIRMWARE_IP6, 7, b"over IPv6\n");
    assert_eq!(
        out.stdout,
        b"over IPv6\n",
        "echo over IPv6: {}",
        out.describe()
    );

    // Discovery: the board among the devices on the subnet, with every
    // server it runs (not the SNTP client, which serves nobody).
    assert_discovered_with_every_server(&ns, board);

    // The clock set, from the Linux side's NTP server, within the SNTP
    // client's retry schedule.
    let limit = SYNC_LIMIT.saturating_sub(upstream_up.elapsed());
    let synced = qemu.wait_for(0, "clock: set to", limit.max(Duration::from_secs(5)));
    let sync_wait = upstream_up.elapsed();
    assert!(
        synced.contains("sntp: synced to 192.168.69.100:123 (stratum 10)")
            && synced.contains("by SNTP from 192.168.69.100:123, stratum 11 here"),
        "{synced}"
    );
    eprintln!(
        "{test}: clock set {sync_wait:.1?} after the upstream started ({:.1?} in)",
        started.elapsed()
    );

    // Now time, daytime and NTP tell the host's time.
    assert_rdate_tells_now(&ns);
    assert_daytime_tells_now(&ns);
    let out = udpkit_ntp(&ns, FIRMWARE_IP);
    assert!(
        out.success()
            && out.stdout_str().starts_with(
                "server 192.168.69.1:123: stratum 11, reference 192.168.69.100, version 4, \
                 leap none\n"
            ),
        "udpkit ntp: the upstream's stratum + 1, its address as reference: {}",
        out.describe()
    );
    let offset = udpkit_ntp_offset(&out);
    assert_offset_small(offset, "udpkit ntp");
    // A real NTP client accepts it too (-q: query only).
    let out = time_client(&ns, 10, &["ntpdate", "-q", FIRMWARE_IP]);
    assert!(out.success(), "ntpdate -q: {}", out.describe());
    let (ntpdate, stratum) = ntpdig_offset_and_stratum(&out);
    assert_eq!(stratum, 11, "ntpdate -q: {}", out.describe());
    assert_offset_small(ntpdate, "ntpdate -q");
    show(&format!(
        "{} in QEMU: clock set by SNTP {sync_wait:.1?} after the upstream started; \
         offset from the host clock {offset:+.6} s (udpkit ntp), {ntpdate:+.6} s (ntpdate -q)",
        board.name
    ));

    // The counters agree, and the stack's high-water mark after all that.
    let report = qemu.report();
    let (received, sent, _) = report.service("echo");
    assert!(received >= 5 && sent == received, "echo:\n{}", report.text);
    for service in ["daytime", "time"] {
        let (received, sent, no_clock) = report.service(service);
        assert!(
            sent >= 1 && no_clock + sent == received,
            "{service}:\n{}",
            report.text
        );
    }
    assert!(
        report.counter("ntp", "client requests answered") >= 2,
        "{}",
        report.text
    );
    assert_eq!(report.counter("sntp", "replies used"), 1, "{}", report.text);
    assert!(
        report
            .clock
            .contains(" UTC (SNTP from 192.168.69.100:123, stratum 11)"),
        "{}",
        report.text
    );
    assert_eq!(report.service("upper").1, 1, "{}", report.text);
    assert_eq!(report.service("hello").1, 2, "{}", report.text);
    assert!(report.counter("discovery", "answered") >= 1);
    assert!(
        report.stack_used > 0 && report.stack_used < report.stack_size,
        "{}",
        report.text
    );
    println!("{}", report.text.trim_end());
    show(&format!(
        "{} in QEMU: stack high-water {} of {} bytes after the traffic",
        board.name, report.stack_used, report.stack_size
    ));

    // Idle: with nothing arriving, QEMU sleeps in WFI and barely uses CPU
    // (the SNTP client asks again only in 17 minutes).
    let pid = qemu.qemu_pid();
    let window = Duration::from_secs(5);
    let before = cpu_time(pid);
    thread::sleep(window);
    let used = cpu_time(pid) - before;
    let percent = 100.0 * used.as_secs_f64() / window.as_secs_f64();
    show(&format!(
        "{} in QEMU: idle at {percent:.1} % of a core over {window:?} (CPU time {used:?})",
        board.name
    ));
    assert!(
        percent < 10.0,
        "QEMU is busy while idle: {percent:.1} % of a core (busy polling?)"
    );
    drop(upstream);

    // The panic handler reports, and QEMU exits with status 1.
    let from = qemu.uart_text().len();
    qemu.press(b'p');
    let panic_text = qemu.wait_for(from, "stopping", Duration::from_secs(10));
    assert!(
        panic_text.contains("PANIC") && panic_text.contains("panicked at"),
        "{panic_text}"
    );
    let status = wait_bounded(&mut qemu.child, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("QEMU still running after the panic\n{}", qemu.describe()));
    assert_eq!(status.code(), Some(1), "QEMU's exit status after a panic");

    // The footprint with the measured stack.
    let out = run_bounded(
        Command::new("python3")
            .arg(firmware_dir().join("footprint.py"))
            .arg("--stack")
            .arg(report.stack_used.to_string())
            .arg(&image),
        Duration::from_secs(60),
    );
    assert!(out.success(), "footprint.py: {}", out.describe());
    show(&out.stdout_str());
    assert!(report.static_ram > 0);

    // Cleanup: QEMU gone, namespace gone.
    let name = ns.name().to_string();
    drop(qemu);
    drop(ns);
    assert_namespace_gone(&name);
    eprintln!("{test}: done in {:.1?}", started.elapsed());
}

// --- A room of hosts ---------------------------------------------------------------

/// Hosts on the Linux side of the TAP (besides HOST_IP), each with an
/// address of its own: every fourth on IPv6.
const ROOM_HOSTS: usize = 16;

/// Seconds of silence in the room's chat: longer than smoltcp keeps a
/// neighbor (60 s) and than the chat waits before it sends a member's lines
/// through its detour (45 s).
const ROOM_SILENCE_SECS: u64 = 70;

/// The room's addresses: 192.168.69.101, .102, .103, fdaa::104, .105, ...
fn room_addresses() -> Vec<String> {
    (1..=ROOM_HOSTS)
        .map(|i| {
            if i % 4 == 0 {
                format!("fdaa::{}", 100 + i)
            } else {
                format!("192.168.69.{}", 100 + i)
            }
        })
        .collect()
}

/// The TAP `tap0` in `ns`, with the Linux side's own address and every
/// address of `room` on it (only inside the namespace), up.
fn add_room_tap(ns: &Netns, room: &[String]) {
    ns.run(&["ip", "tuntap", "add", "dev", "tap0", "mode", "tap"])
        .out()
        .ok();
    ns.run(&["ip", "addr", "add", HOST_CIDR, "dev", "tap0"])
        .out()
        .ok();
    for address in room {
        if address.contains(':') {
            let cidr = format!("{address}/64");
            ns.run(&["ip", "-6", "addr", "add", &cidr, "dev", "tap0", "nodad"])
                .out()
                .ok();
        } else {
            let cidr = format!("{address}/24");
            ns.run(&["ip", "addr", "add", &cidr, "dev", "tap0"])
                .out()
                .ok();
        }
    }
    ns.run(&["ip", "link", "set", "tap0", "up"]).out().ok();
}

/// A `pub const NAME: usize = N;` of the firmware runtime's size class
/// `class` (`mod ram_64k` of runtime/src/sizes.rs), so the test follows
/// the boards' capacities.
fn firmware_constant(class: &str, name: &str) -> usize {
    let path = firmware_dir().join("runtime/src/sizes.rs");
    let source = fs::read_to_string(&path).expect("read the firmware runtime's sizes.rs");
    let module = format!("mod {class} {{");
    let prefix = format!("pub const {name}: usize = ");
    source
        .lines()
        .skip_while(|line| !line.contains(&module))
        .take_while(|line| *line != "}")
        .find_map(|line| line.trim().strip_prefix(&prefix)?.strip_suffix(';'))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{prefix}N;` in `{module}` of {}", path.display()))
}

/// Runs one of the room's Python scripts in `ns`, bounded by `limit`, and
/// shows what it printed.
fn room_script(ns: &Netns, script: &str, args: &[String], limit: Duration) -> Out {
    let secs = limit.as_secs().to_string();
    let mut argv = vec!["timeout", "-k", "2", secs.as_str(), "python3", "-c", script];
    argv.extend(args.iter().map(String::as_str));
    let mut out = ns.run(&argv).limit(limit + Duration::from_secs(10)).out();
    // Failure messages name the arguments, not the whole script.
    out.what = format!("python3 -c <script> {}", args.join(" "));
    show(&out.stdout_str());
    out
}

/// Every host of `room` sends an echo request to the board at the same
/// instant, `rounds` times: asserts that in each round every reply came
/// back, and right; returns how long the rounds took.
#[track_caller]
fn room_echo(ns: &Netns, room: &[String], rounds: usize, qemu: &Qemu) -> Duration {
    let mut args = vec![
        FIRMWARE_IP.to_string(),
        FIRMWARE_IP6.to_string(),
        "7".to_string(),
        rounds.to_string(),
        "2".to_string(),
    ];
    args.extend(room.iter().cloned());
    let started = Instant::now();
    let out = room_script(ns, ROOM_ECHO, &args, Duration::from_secs(30));
    let took = started.elapsed();
    let hosts = room.len();
    assert!(
        out.success(),
        "{hosts} hosts' echo: {}\n{}",
        out.describe(),
        qemu.describe()
    );
    let text = out.stdout_str();
    for round in 1..=rounds {
        let expected = format!("ROUND {round}: {hosts}/{hosts} right");
        assert!(text.contains(&expected), "no {expected:?} in\n{text}");
    }
    took
}

/// Asserts that between two reports the board never had to ask for a
/// neighbor: no ARP request or neighbor solicitation sent, no datagram to
/// a host its table did not know.
#[track_caller]
fn assert_no_resolutions(before: &Report, after: &Report, what: &str) {
    let (b, a) = (before.neighbors, after.neighbors);
    assert!(
        a.resolutions == b.resolutions && a.unresolved == b.unresolved,
        "{what}: the board resolved neighbors ({} ARP requests or neighbor solicitations, \
         {} datagrams to hosts its table did not know)\nbefore: {}\nafter:  {}",
        a.resolutions - b.resolutions,
        a.unresolved - b.unresolved,
        before.neighbors_line(),
        after.neighbors_line()
    );
}

/// Issue 9, "A room of machines", on the board: 16 hosts on the Linux side
/// of the TAP, some on IPv6, talk to it at the same instant, and each gets
/// its answer at once, without the board asking ARP or neighbor discovery
/// for any of them (its neighbor table learns them from their frames).
#[test]
fn firmware_in_qemu_answers_a_room_of_hosts_at_once() {
    let test = "firmware_in_qemu_answers_a_room_of_hosts_at_once";
    if !e2e_preflight(test, &MPS2_AN385) {
        return;
    }
    let image = build(&MPS2_AN385, TARGET_M3);
    let started = Instant::now();
    let ns = namespace(test);
    let room = room_addresses();
    add_room_tap(&ns, &room);
    let mut qemu = Qemu::start(&ns, &MPS2_AN385, &image);
    qemu.wait_for(0, "ready on lan9118", Duration::from_secs(30));
    let mut answered = false;
    for _ in 0..20 {
        if one_shot(&ns, 7, 0.5, b"probe").as_deref() == Some(b"probe") {
            answered = true;
            break;
        }
    }
    assert!(answered, "echo never answered\n{}", qemu.describe());
    // What the board knew before the room spoke: the Linux side's main
    // address (its ARP answer for the SNTP client's first request).
    let before = qemu.report();
    show(&format!(
        "{test}: before the room: {}",
        before.neighbors_line()
    ));
    assert!(
        before.neighbors.capacity >= ROOM_HOSTS as u64 + 2,
        "the board's neighbor table must hold the room and the Linux side's own \
         addresses: {}",
        before.neighbors_line()
    );

    // Echo: every host at the same instant, three times.
    let rounds = 3;
    let echo_time = room_echo(&ns, &room, rounds, &qemu);
    let after_echo = qemu.report();
    assert_no_resolutions(&before, &after_echo, "echo");
    // Each host was learned from its frames and taught to smoltcp, and
    // the room fits the table: nobody was evicted.
    let (b, a) = (before.neighbors, after_echo.neighbors);
    assert!(
        a.known >= ROOM_HOSTS as u64 && a.taught >= b.taught + ROOM_HOSTS as u64,
        "every host of the room learned and taught: {}",
        after_echo.neighbors_line()
    );
    assert_eq!(a.evicted, b.evicted, "{}", after_echo.neighbors_line());
    let (received, sent, _) = after_echo.service("echo");
    assert!(
        received >= (rounds * ROOM_HOSTS) as u64 && sent == received,
        "echo:\n{}",
        after_echo.text
    );
    show(&format!(
        "{test}: {ROOM_HOSTS} hosts ({} on IPv6), {rounds} rounds of echo at once, \
         every reply right, in {echo_time:.1?}; {}",
        room.iter().filter(|a| a.contains(':')).count(),
        after_echo.neighbors_line()
    ));

    // Chat: one member per host, as many as the board's chat holds.
    let members = firmware_constant("ram_64k", "CHAT_MEMBERS").min(ROOM_HOSTS);
    let longest = firmware_constant("ram_64k", "CHAT_MESSAGE");
    let mut args = vec![
        FIRMWARE_IP.to_string(),
        FIRMWARE_IP6.to_string(),
        "5555".to_string(),
        rounds.to_string(),
        ROOM_SILENCE_SECS.to_string(),
        longest.to_string(),
    ];
    args.extend(room.iter().take(members).cloned());
    let chat_started = Instant::now();
    let out = room_script(
        &ns,
        ROOM_CHAT,
        &args,
        Duration::from_secs(ROOM_SILENCE_SECS + 90),
    );
    let chat_time = chat_started.elapsed();
    let after_chat = qemu.report();
    assert!(
        out.success(),
        "the chat of {members}: {}\n{}",
        out.describe(),
        after_chat.text
    );
    let text = out.stdout_str();
    // Each line to every member, its sender included (the chat's echo).
    let lines = members * members;
    for round in ["r1", "r2", "r3", "after-silence"] {
        let expected = format!("ROUND {round}: {lines}/{lines} lines delivered");
        assert!(text.contains(&expected), "no {expected:?} in\n{text}");
    }
    assert_eq!(
        after_chat.counter("chat", "members"),
        members as u64,
        "{}",
        after_chat.text
    );
    assert_eq!(
        after_chat.counter("chat", "send failed"),
        0,
        "{}",
        after_chat.text
    );
    assert_no_resolutions(&after_echo, &after_chat, "chat");
    show(&format!(
        "{test}: a chat of {members} members, every line to all others in {rounds} rounds \
         and after {ROOM_SILENCE_SECS} s of silence, in {chat_time:.1?}; {}",
        after_chat.neighbors_line()
    ));
    println!("{}", after_chat.text.trim_end());

    let name = ns.name().to_string();
    drop(qemu);
    drop(ns);
    assert_namespace_gone(&name);
    show(&format!("{test}: done in {:.1?}", started.elapsed()));
}

/// The small images' 64-bit division, bit by bit in Thumb-2 in place of
/// compiler_builtins' (firmware/mps2-an385/src/div.rs), divides right on
/// the Cortex-M3: numbers around each of its boundaries, each by each, and
/// 4,000 pairs of every length, checked by `n = q * d + r`, `r < d` (a
/// wrong one stops the board), before the image starts as usual.
#[test]
fn mps2_an385_small_division_divides_right() {
    let test = "mps2_an385_small_division_divides_right";
    let board = &MPS2_AN385;
    if !e2e_preflight(test, board) {
        return;
    }
    let image = build_variant(board, board.target, Some(&DIVISION_CHECK));
    let ns = namespace(test);
    ns.add_tap("tap0", HOST_CIDR);
    let mut qemu = Qemu::start(&ns, board, &image);
    let ready = format!("ready on {}", board.nic);
    let boot = qemu.wait_for(0, &ready, Duration::from_secs(60));
    // 16 numbers by the 15 that are not 0, and the 4,000 pairs.
    assert!(
        boot.contains("division check: 4240 quotients and remainders right"),
        "{boot}"
    );
}

/// Hosts of the smallest image's room: IPv4 only (the image has no IPv6),
/// as many as its neighbor table holds beside the Linux side's own address
/// (the SNTP server's).
const SMALL_ROOM_HOSTS: usize = 10;

/// The smallest image (size class `ram-16k`: 590-byte frames, a neighbor
/// table of 12) in a room of hosts: 10 hosts on the Linux side of the TAP,
/// each with an address of its own, send echo requests at the same instant,
/// five rounds, and every reply comes back right, to its sender. Its
/// largest datagram, 548 bytes, is echoed; a longer one, in a frame its
/// NIC does not take, gets no answer (and breaks nothing).
#[test]
fn mps2_an385_smallest_image_answers_a_room_of_hosts_at_once() {
    let test = "mps2_an385_smallest_image_answers_a_room_of_hosts_at_once";
    let board = &MPS2_AN385;
    if !e2e_preflight(test, board) {
        return;
    }
    let image = build_variant(board, board.target, Some(&MINIMAL));
    let started = Instant::now();
    let ns = namespace(test);
    let room: Vec<String> = (1..=SMALL_ROOM_HOSTS)
        .map(|i| format!("192.168.69.{}", 100 + i))
        .collect();
    add_room_tap(&ns, &room);
    let mut qemu = Qemu::start(&ns, board, &image);
    qemu.wait_for(0, "ready on lan9118", Duration::from_secs(30));
    wait_until_echo_answers(&ns, &qemu, FIRMWARE_IP);

    // The largest datagram of a 590-byte frame, and one byte more.
    let largest: Vec<u8> = (0..548u32).map(|i| b'a' + (i % 26) as u8).collect();
    assert_eq!(
        one_shot(&ns, 7, 2.0, &largest).as_deref(),
        Some(&largest[..]),
        "the largest datagram\n{}",
        qemu.describe()
    );
    let longer = vec![b'x'; 549];
    assert_eq!(one_shot(&ns, 7, 1.0, &longer), None, "549 bytes answered");

    let rounds = 5;
    let echo_time = room_echo(&ns, &room, rounds, &qemu);
    // Still answering one host after the room.
    nc_expect(
        &ns,
        FIRMWARE_IP,
        7,
        b"after the room\n",
        b"after the room\n",
    );
    let report = qemu.short_report();
    let (received, sent, _) = report.services.get("echo").copied().unwrap_or_default();
    assert!(
        received >= (rounds * SMALL_ROOM_HOSTS) as u64 + 2 && sent == received,
        "every datagram that fits answered, the longer one never received: {}",
        report.text
    );
    show(&format!(
        "{test}: {SMALL_ROOM_HOSTS} hosts, {rounds} rounds of echo at once, every reply right, \
         in {echo_time:.1?}; stack high-water {} of {} bytes, {} bytes static",
        report.stack_used, report.stack_size, report.static_ram
    ));

    let name = ns.name().to_string();
    drop(qemu);
    drop(ns);
    assert_namespace_gone(&name);
    show(&format!("{test}: done in {:.1?}", started.elapsed()));
}

/// The lean image ([`LEAN`]: every service, SNTP, IPv6 and discovery, no
/// console, size class `ram-32k`) end to end, in a room of 16 hosts on the
/// Linux side of the TAP (every fourth on IPv6): echo to all of them at
/// the same instant, its largest datagram, upper and hello, a chat of as
/// many members as the class holds on hosts of their own (some on IPv6),
/// every line to all, also after a silence that sends them through the
/// chat's detour, discovery, IPv6 echo and ping, and daytime, time and NTP
/// once the SNTP client has set the clock. Its statics and the stack's
/// high-water mark after all that stay within issue 13's 32 KiB
/// ([`LEAN_RAM_GOAL`]); the footprint test holds its flash to its ceiling.
#[test]
fn mps2_an385_lean_image_answers_every_service() {
    let test = "mps2_an385_lean_image_answers_every_service";
    let board = &MPS2_AN385;
    if !e2e_preflight(test, board) {
        return;
    }
    let image = build_variant(board, board.target, Some(&LEAN));
    let started = Instant::now();
    let ns = namespace(test);
    let room = room_addresses();
    add_room_tap(&ns, &room);
    let mut qemu = Qemu::start(&ns, board, &image);
    let ready = format!("ready on {}", board.nic);
    let boot = qemu.wait_for(0, &ready, Duration::from_secs(30));
    assert!(boot.contains(": 9 services, ping answered"), "{boot}");
    for service in EVERY_SERVICE {
        assert!(
            boot.contains(&format!("{service:<8} udp")),
            "{service} did not start:\n{boot}"
        );
    }
    wait_until_echo_answers(&ns, &qemu, FIRMWARE_IP);
    // The clock's server on the Linux side: the SNTP client syncs to it
    // while the rest goes on.
    let upstream = start_upstream(&ns);

    // Echo: the room at once, and the largest datagram of a 1514-byte frame.
    let rounds = 3;
    let echo_time = room_echo(&ns, &room, rounds, &qemu);
    let largest = support::random_bytes(1472);
    assert_eq!(
        one_shot(&ns, 7, 2.0, &largest).as_deref(),
        Some(&largest[..]),
        "the largest datagram\n{}",
        qemu.describe()
    );
    // IPv6: ping and echo on fdaa::1 (the room's IPv6 hosts are on tap0).
    let out = ping(&ns, FIRMWARE_IP6, 3);
    assert!(
        out.success() && out.stdout_str().contains("3 received"),
        "ping -6: {}",
        out.describe()
    );
    nc_expect(&ns, FIRMWARE_IP6, 7, b"over IPv6\n", b"over IPv6\n");

    // The tutorial servers.
    nc_expect(&ns, FIRMWARE_IP, 12000, b"lean image\n", b"LEAN IMAGE\n");
    nc_expect(&ns, FIRMWARE_IP, 12001, b"world\n", b"Hello world!\n");
    // The longest lines their queues take (`TEXT_BYTES`): a line of four
    // terminal rows to upper, a name as long less the greeting's 8 bytes
    // to hello.
    let text_bytes = firmware_constant("ram_32k", "TEXT_BYTES");
    let line = [b"x".repeat(text_bytes - 1), b"\n".to_vec()].concat();
    assert_eq!(
        one_shot(&ns, 12000, 2.0, &line),
        Some(line.to_ascii_uppercase()),
        "upper, a line of {text_bytes} bytes\n{}",
        qemu.describe()
    );
    let name = b"n".repeat(text_bytes - 8);
    assert_eq!(
        one_shot(&ns, 12001, 2.0, &name),
        Some([&b"Hello "[..], &name, b"!\n"].concat()),
        "hello, a name of {} bytes\n{}",
        name.len(),
        qemu.describe()
    );

    // The chat's deeper answers, as people type them: a move to a room of
    // its own, who is there, the rooms, a private message.
    let mut carol = NcMember::join(&ns, 5555);
    carol.say("/nick carol\n");
    carol.expect("*** welcome carol, you are in lobby");
    let mut dave = NcMember::join(&ns, 5555);
    dave.say("/nick dave\n");
    dave.expect("*** welcome dave, you are in lobby");
    carol.say("/join games\n");
    carol.expect("*** welcome carol, you are in games with: carol");
    dave.expect("*** carol left lobby for games");
    dave.say("/rooms\n");
    dave.expect("*** rooms: lobby (1) games (1)");
    dave.say("/msg carol see you there\n");
    carol.expect("[private] <dave> see you there");
    carol.say("/who\n");
    carol.expect("*** in games with: carol");
    // Both leave: the room's chat below takes every member the class holds.
    carol.say("/quit\n");
    carol.expect("*** bye carol");
    dave.say("/quit\n");
    dave.expect("*** bye dave");
    drop((carol, dave));

    // Chat: as many members as the class holds, each on a host of its
    // own (some on IPv6), every line to all, also after the silence.
    let members = firmware_constant("ram_32k", "CHAT_MEMBERS").min(room.len());
    let longest = firmware_constant("ram_32k", "CHAT_MESSAGE");
    let mut args = vec![
        FIRMWARE_IP.to_string(),
        FIRMWARE_IP6.to_string(),
        "5555".to_string(),
        rounds.to_string(),
        ROOM_SILENCE_SECS.to_string(),
        longest.to_string(),
    ];
    args.extend(room.iter().take(members).cloned());
    let out = room_script(
        &ns,
        ROOM_CHAT,
        &args,
        Duration::from_secs(ROOM_SILENCE_SECS + 90),
    );
    assert!(
        out.success(),
        "the chat of {members}: {}\n{}",
        out.describe(),
        qemu.describe()
    );
    let text = out.stdout_str();
    let lines = members * members;
    for round in ["r1", "r2", "r3", "after-silence"] {
        let expected = format!("ROUND {round}: {lines}/{lines} lines delivered");
        assert!(text.contains(&expected), "no {expected:?} in\n{text}");
    }

    // Discovery: the board with every server it runs.
    assert_discovered_with_every_server(&ns, board);
    nc(&ns, FIRMWARE_IP, 9, b"to be counted\n");

    // The clock from the Linux side's NTP server; then time, daytime and
    // NTP tell the host's time.
    let synced = qemu.wait_for(0, "clock: set to", SYNC_LIMIT);
    assert!(
        synced.contains("UTC by SNTP from 192.168.69.100:123, stratum 11 here"),
        "{synced}"
    );
    assert_rdate_tells_now(&ns);
    assert_daytime_tells_now(&ns);
    let out = udpkit_ntp(&ns, FIRMWARE_IP);
    assert!(
        out.success()
            && out
                .stdout_str()
                .contains("stratum 11, reference 192.168.69.100"),
        "udpkit ntp: {}",
        out.describe()
    );
    assert_offset_small(udpkit_ntp_offset(&out), "udpkit ntp");
    drop(upstream);

    // Every service counted what it did, and the RAM after all that.
    let report = qemu.short_report();
    for service in EVERY_SERVER {
        let (received, _, _) = report.service(service);
        assert!(received >= 1, "{service} saw nothing:\n{}", report.text);
    }
    let (received, sent, _) = report.service("echo");
    assert!(
        received >= (rounds * ROOM_HOSTS) as u64 && sent == received,
        "{}",
        report.text
    );
    let ram = report.static_ram + report.stack_used;
    show(&format!(
        "{test}: {ROOM_HOSTS} hosts' echo in {echo_time:.1?}, a chat of {members}; \
         {} bytes static + stack high-water {} = {ram} bytes of RAM (issue 13's goal \
         {LEAN_RAM_GOAL})",
        report.static_ram, report.stack_used,
    ));
    assert!(
        report.stack_used > 0 && ram <= LEAN_RAM_GOAL,
        "the lean image uses {ram} bytes of RAM, more than issue 13's goal {LEAN_RAM_GOAL}: \
         find what grew:\n{}",
        report.text
    );

    let name = ns.name().to_string();
    drop(qemu);
    drop(ns);
    assert_namespace_gone(&name);
    show(&format!("{test}: done in {:.1?}", started.elapsed()));
}

/// The services of an image with all of them, as its boot lines name them:
/// the catalog's servers, then the SNTP client.
const EVERY_SERVICE: [&str; 10] = [
    "echo",
    "discard",
    "daytime",
    "time",
    "ntp",
    "upper",
    "hello",
    "chat",
    "discovery",
    "sntp",
];

/// [`EVERY_SERVICE`]'s servers: all but the SNTP client, its last.
const EVERY_SERVER: &[&str] = match EVERY_SERVICE.split_last() {
    Some((_, servers)) => servers,
    None => &[],
};

/// `udpkit discover` on the namespace's subnet: the servers it lists for
/// `board` at `address` (`name=port` each), or a panic if it found none.
fn discovered_servers(ns: &Netns, board: &BoardSpec, address: &str) -> (Vec<String>, Out) {
    let out = ns
        .run(&[
            "timeout",
            "-k",
            "2",
            "10",
            UDPKIT,
            "discover",
            "--broadcast",
            SUBNET_BROADCAST,
            "--timeout",
            "2s",
        ])
        .limit(CLIENT_LIMIT)
        .out();
    let listed = out
        .stdout_str()
        .lines()
        .find(|l| l.split_whitespace().take(2).eq([board.name, address]))
        .unwrap_or_else(|| {
            panic!(
                "discover did not find the board at {address}: {}",
                out.describe()
            )
        })
        .split_whitespace()
        .skip(2)
        .map(str::to_string)
        .collect();
    (listed, out)
}

/// `udpkit discover` finds the board at [`FIRMWARE_IP`] with every server
/// of the catalog (not the SNTP client, which serves nobody).
fn assert_discovered_with_every_server(ns: &Netns, board: &BoardSpec) {
    let (listed, out) = discovered_servers(ns, board, FIRMWARE_IP);
    assert_eq!(
        listed,
        [
            "echo=7",
            "discard=9",
            "daytime=13",
            "time=37",
            "ntp=123",
            "upper=12000",
            "hello=12001",
            "chat=5555",
            "discovery=5550"
        ],
        "{}",
        out.describe()
    );
}

/// `udpkit daytime` from the board tells the host's time (RFC 867's line,
/// parsed, within the query's span).
fn assert_daytime_tells_now(ns: &Netns) {
    let before = support::now_unix();
    let out = time_client(ns, 10, &[UDPKIT, "daytime", FIRMWARE_IP, "--timeout", "2s"]);
    let after = support::now_unix();
    assert!(out.success(), "udpkit daytime: {}", out.describe());
    let day = support::try_parse_ctime(out.stdout_str().trim())
        .unwrap_or_else(|e| panic!("{e}: {}", out.describe()));
    support::assert_near_now(day, before, after, "daytime (RFC 867)");
}

// --- DHCP ----------------------------------------------------------------------

/// The image built with the runtime's `dhcp` feature, in QEMU on a TAP
/// whose Linux side runs dnsmasq (the host tests' `support::dnsmasq`, on
/// tap0 of the namespace only): the board asks for its address at boot,
/// logs the lease, answers ping and echo (a 1400-byte binary datagram
/// byte for byte) there, and `udpkit discover` lists it at that address;
/// its `s` report shows the lease.
#[test]
fn mps2_an385_in_qemu_takes_its_address_from_dnsmasq() {
    takes_its_address_from_dnsmasq(
        "mps2_an385_in_qemu_takes_its_address_from_dnsmasq",
        &MPS2_AN385,
    );
}

/// The same on the lm3s6965evb.
#[test]
fn lm3s6965evb_in_qemu_takes_its_address_from_dnsmasq() {
    takes_its_address_from_dnsmasq(
        "lm3s6965evb_in_qemu_takes_its_address_from_dnsmasq",
        &LM3S6965EVB,
    );
}

/// The same on the RISC-V virt board.
#[test]
fn riscv_virt_in_qemu_takes_its_address_from_dnsmasq() {
    takes_its_address_from_dnsmasq(
        "riscv_virt_in_qemu_takes_its_address_from_dnsmasq",
        &RISCV_VIRT,
    );
}

fn takes_its_address_from_dnsmasq(test: &str, board: &'static BoardSpec) {
    if !e2e_preflight(test, board) {
        return;
    }
    let (tool, package) = support::dnsmasq::TOOL;
    assert!(
        find_in_path(tool).is_some(),
        "{test}: `{tool}` is missing: install the Debian package {package} (scripts/test.sh does)"
    );
    let image = build_variant(board, board.target, Some(&DHCP));
    let started = Instant::now();
    let ns = namespace(test);
    ns.add_tap("tap0", HOST_CIDR);
    let dnsmasq = support::dnsmasq::Dnsmasq::start(&ns, "192.168.69.50", "192.168.69.60");
    let mut qemu = Qemu::start(&ns, board, &image);

    let ready = format!("ready on {}", board.nic);
    let boot = qemu.wait_for(0, &ready, Duration::from_secs(30));
    assert!(boot.contains("as an address from DHCP"), "{boot}");
    assert!(
        !boot.contains(&format!("{FIRMWARE_IP}/24")),
        "the static address: {boot}"
    );
    let text = qemu.wait_for(0, "dhcp: leased", Duration::from_secs(30));
    let line = text
        .lines()
        .find(|l| l.contains("dhcp: leased"))
        .unwrap_or_default()
        .to_string();
    assert!(
        line.contains(&format!("from {HOST_IP}, router {HOST_IP}, lease 120 s")),
        "{line}"
    );
    let leased = line
        .split("dhcp: leased ")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_string();
    assert!(
        leased.starts_with("192.168.69.") && leased != FIRMWARE_IP,
        "{line}"
    );
    let mac = "02:00:00:00:00:01";
    assert!(
        dnsmasq
            .log()
            .contains(&format!("DHCPACK(tap0) {leased} {mac}")),
        "{}",
        dnsmasq.log()
    );
    eprintln!("{test}: {} after {:.1?}", line.trim(), started.elapsed());

    // Echo (a first probe until the board is reached), then 1400 binary
    // bytes back byte for byte, and ping, at the leased address.
    wait_until_echo_answers(&ns, &qemu, &leased);
    let payload: Vec<u8> = (0..1400u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
    let out = ns.python(
        "import socket, sys\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.settimeout(2)\n\
         s.sendto(bytes.fromhex(sys.argv[2]), (sys.argv[1], 7))\n\
         print(s.recvfrom(4096)[0].hex())\n",
        &[&leased, &hex],
    );
    assert_eq!(
        out.stdout_str().trim(),
        hex,
        "1400-byte echo: {}",
        out.describe()
    );
    let out = ping(&ns, &leased, 3);
    assert!(out.success(), "ping {leased}: {}", out.describe());

    // Discovery lists the board at the leased address.
    let (listed, out) = discovered_servers(&ns, board, &leased);
    assert!(
        listed.iter().any(|s| s == "echo=7") && listed.iter().any(|s| s == "discovery=5550"),
        "{}",
        out.describe()
    );

    let report = qemu.report();
    assert!(
        report
            .text
            .contains(&format!("dhcp: holding {leased}/24 from {HOST_IP}")),
        "{}",
        report.text
    );
    show(&format!(
        "{} with DHCP in QEMU: stack high-water {} of {} bytes, {} bytes static",
        board.name, report.stack_used, report.stack_size, report.static_ram
    ));
    dnsmasq.stop();
    eprintln!("{test}: done after {:.1?}", started.elapsed());
}

// --- The smallest image ------------------------------------------------------------

/// The image with echo, time and the SNTP client only (cargo features of
/// the runtime, firmware/README.md; no `console`, panics abort), in QEMU on a
/// TAP: it lists just those at boot in plain text, answers `nc -u` on echo
/// byte for byte and ping, says nothing on the ports of the services it
/// left out (daytime, chat) nor over IPv6 (built without the `ipv6`
/// feature: no neighbor discovery, so neither `ping -6` nor echo over
/// IPv6 gets an answer on fdaa::1), and once its
/// SNTP client has the time from the Linux side's NTP server, `rdate -u`
/// gets the host's time. Its footprint is in
/// [`firmware_footprint_fits_a_small_mcu`]; the stack it used is shown.
#[test]
fn mps2_an385_smallest_image_answers_echo_time_and_ping() {
    let test = "mps2_an385_smallest_image_answers_echo_time_and_ping";
    let board = &MPS2_AN385;
    if !e2e_preflight(test, board) {
        return;
    }
    let image = build_variant(board, board.target, Some(&MINIMAL));
    let started = Instant::now();
    let ns = namespace(test);
    ns.add_tap("tap0", HOST_CIDR);
    let mut qemu = Qemu::start(&ns, board, &image);

    let ready = format!("ready on {}", board.nic);
    let boot = qemu.wait_for(0, &ready, Duration::from_secs(30));
    assert!(boot.contains(": 2 services, ping answered"), "{boot}");
    for started in [
        "echo     udp 192.168.69.1:7 ",
        "time     udp 192.168.69.1:37 ",
        "sntp     udp",
    ] {
        assert!(boot.contains(started), "{started:?} not at boot: {boot}");
    }
    for left_out in ["daytime", "chat", "discovery", "ntp "] {
        assert!(
            !boot.contains(&format!("{left_out:<8} udp")),
            "{left_out} started: {boot}"
        );
    }

    // Echo, byte for byte (a first probe until the board is reached), and
    // ping.
    wait_until_echo_answers(&ns, &qemu, FIRMWARE_IP);
    nc_expect(
        &ns,
        FIRMWARE_IP,
        7,
        b"smallest image\n",
        b"smallest image\n",
    );
    let out = ping(&ns, FIRMWARE_IP, 3);
    assert!(out.success(), "ping: {}", out.describe());
    // What was left out is not there: no answer on daytime's or chat's port.
    for port in [13, 5555] {
        let out = nc(&ns, FIRMWARE_IP, port, b"/nick anyone\n");
        assert!(out.stdout.is_empty(), "port {port}: {}", out.describe());
    }
    // Nor is IPv6: the full image answers both of these on fdaa::1
    // (firmware_in_qemu_answers_like_the_host), this one neither.
    ns.run(&["ip", "addr", "add", "fdaa::100/64", "dev", "tap0", "nodad"])
        .out()
        .ok();
    let out = ping(&ns, FIRMWARE_IP6, 2);
    assert!(
        !out.success() && out.stdout_str().contains(" 0 received"),
        "ping -6 answered by an IPv4-only image: {}",
        out.describe()
    );
    let out = nc(&ns, FIRMWARE_IP6, 7, b"over IPv6\n");
    assert!(
        out.stdout.is_empty(),
        "echo over IPv6 answered by an IPv4-only image: {}",
        out.describe()
    );

    // The clock from the Linux side's NTP server, then time answers.
    let upstream = start_upstream(&ns);
    let upstream_up = Instant::now();
    // Nothing logs in this image (the core's `sntp: synced` line is
    // not there): the runtime's clock line says whom it has the time from,
    // a stratum below the server's 10.
    let synced = qemu.wait_for(0, "clock: set to", SYNC_LIMIT);
    assert!(
        synced.contains("UTC by SNTP from 192.168.69.100:123, stratum 11 here"),
        "{synced}"
    );
    eprintln!(
        "{test}: clock set {:.1?} after the upstream started",
        upstream_up.elapsed()
    );
    assert_rdate_tells_now(&ns);

    let report = qemu.short_report();
    let (received, sent, _) = report.services.get("echo").copied().unwrap_or_default();
    assert!(received >= 2 && sent == received, "{}", report.text);
    let (received, sent, _) = report.services.get("time").copied().unwrap_or_default();
    assert!(received >= 1 && sent >= 1, "{}", report.text);
    show(&format!(
        "{} smallest image (echo, time, SNTP) in QEMU: stack high-water {} of {} bytes, {} bytes static",
        board.name, report.stack_used, report.stack_size, report.static_ram
    ));
    drop(upstream);

    // A panic (`p`) aborts: a trap, which the fault handler reports with
    // the trap's address; then QEMU exits with status 1.
    let from = qemu.uart_text().len();
    qemu.press(b'p');
    let fault = qemu.wait_for(from, "stopping", Duration::from_secs(10));
    assert!(
        fault.contains("!!! HARD FAULT at pc 0x") && fault.contains("!!! stack: "),
        "{fault}"
    );
    let status = wait_bounded(&mut qemu.child, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("QEMU still running after the panic\n{}", qemu.describe()));
    assert_eq!(status.code(), Some(1), "QEMU's exit status after a panic");

    let name = ns.name().to_string();
    drop(qemu);
    drop(ns);
    assert_namespace_gone(&name);
    eprintln!("{test}: done after {:.1?}", started.elapsed());
}
