//! Writes the build-time configuration every board shares (`config.rs` in
//! OUT_DIR, included by `lib.rs`):
//!
//! - `UDPKIT_SNTP_SERVER`: the NTP server a board takes its wall clock
//!   from, `ADDR` or `ADDR:PORT` (IPv6: `[ADDR]:PORT`); by default
//!   192.168.69.100:123, the Linux side of the TAP. A value that is no
//!   address fails the build, rather than a board that never gets the time,
//!   and so does an IPv6 server in an image without the `ipv6` feature.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::{env, fs};

const SNTP_SERVER_VAR: &str = "UDPKIT_SNTP_SERVER";
const DEFAULT_SNTP_SERVER: &str = "192.168.69.100:123";
const NTP_PORT: u16 = 123;
/// Where the generated code finds smoltcp's address types.
const WIRE: &str = "udpkit::smoltcp::wire";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    println!("cargo:rerun-if-changed=build.rs");

    println!("cargo:rerun-if-env-changed={SNTP_SERVER_VAR}");
    let text = env::var(SNTP_SERVER_VAR).unwrap_or_else(|_| DEFAULT_SNTP_SERVER.to_string());
    let server = parse_server(text.trim()).unwrap_or_else(|| {
        panic!(
            "{SNTP_SERVER_VAR}={text:?} is not an NTP server address: \
             give ADDR, ADDR:PORT or [IPV6]:PORT, e.g. {DEFAULT_SNTP_SERVER}"
        )
    });
    let address = match server.ip() {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{WIRE}::IpAddress::Ipv4({WIRE}::Ipv4Address::new({a}, {b}, {c}, {d}))")
        }
        IpAddr::V6(_) if env::var_os("CARGO_FEATURE_IPV6").is_none() => panic!(
            "{SNTP_SERVER_VAR}={text:?} is an IPv6 address, and this image is built without \
             IPv6: give an IPv4 server, or build with the `ipv6` feature of udpkit-runtime"
        ),
        IpAddr::V6(v6) => {
            let [a, b, c, d, e, f, g, h] = v6.segments();
            format!(
                "{WIRE}::IpAddress::Ipv6({WIRE}::Ipv6Address::new({a:#x}, {b:#x}, {c:#x}, {d:#x}, \
                 {e:#x}, {f:#x}, {g:#x}, {h:#x}))"
            )
        }
    };
    let config = format!(
        "/// The NTP server the SNTP client asks (`{SNTP_SERVER_VAR}` at build time).\n\
         pub const SNTP_SERVER: {WIRE}::IpEndpoint = {WIRE}::IpEndpoint::new({address}, {});\n",
        server.port()
    );
    fs::write(out.join("config.rs"), config).expect("writing config.rs");
}

/// `ADDR`, `ADDR:PORT` or `[IPV6]:PORT`; not port 0, not an unspecified,
/// broadcast or multicast address.
fn parse_server(text: &str) -> Option<SocketAddr> {
    let server = text
        .parse::<SocketAddr>()
        .ok()
        .or_else(|| Some(SocketAddr::new(text.parse::<IpAddr>().ok()?, NTP_PORT)))?;
    let usable = match server.ip() {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    };
    (usable && server.port() != 0).then_some(server)
}
