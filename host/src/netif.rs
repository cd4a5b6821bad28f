//! Network interfaces as the kernel sees them from this process's network
//! namespace: whether one exists, whether it is up, and its MTU.
//!
//! The kernel is asked (`if_nametoindex(3)`, and `SIOCGIFFLAGS` and
//! `SIOCGIFMTU` on a socket), never /sys/class/net: sysfs shows the
//! interfaces of the namespace it was mounted in, which is not the process's
//! own when it entered a namespace by `unshare --net` or `nsenter --net`.
//! A socket belongs to the namespace of the process that made it, and so do
//! the answers about interfaces asked through it.

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;

/// Checks `name` the way the kernel checks interface names (`dev_valid_name`):
/// 1 to 15 bytes, not `.` or `..`, no `/`, `:`, white space or NUL. The
/// name as a C string.
fn c_name(name: &str) -> io::Result<CString> {
    let valid = !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace());
    if !valid {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "'{name}' cannot be a network interface's name: 1 to {} bytes, \
                 without '/', ':' or spaces",
                libc::IFNAMSIZ - 1
            ),
        ));
    }
    CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// The index of interface `name`, or `None` when there is no interface of
/// that name.
pub fn index(name: &str) -> io::Result<Option<u32>> {
    let c_name = c_name(name)?;
    // SAFETY: `c_name` is a NUL-terminated string that lives through the
    // call; if_nametoindex only reads it.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    if index != 0 {
        return Ok(Some(index));
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::ENODEV) => Ok(None),
        _ => Err(error),
    }
}

/// An `ifreq` naming interface `name`, the rest zero.
fn request(name: &str) -> io::Result<libc::ifreq> {
    let c_name = c_name(name)?;
    let mut request = libc::ifreq {
        ifr_name: [0; libc::IFNAMSIZ],
        ifr_ifru: libc::__c_anonymous_ifr_ifru { ifru_mtu: 0 },
    };
    // `c_name` is shorter than IFNAMSIZ, so the name stays NUL-terminated.
    for (to, &from) in request.ifr_name.iter_mut().zip(c_name.as_bytes()) {
        *to = from as libc::c_char;
    }
    Ok(request)
}

/// `ioctl(socket, what, request)` on a fresh socket of this namespace.
fn ask(what: libc::Ioctl, request: &mut libc::ifreq) -> io::Result<()> {
    // A Unix socket serves: interface requests go to the socket's
    // namespace whatever its family, and it needs no IPv4 or IPv6.
    let socket = UnixDatagram::unbound()?;
    // SAFETY: `what` is SIOCGIFFLAGS or SIOCGIFMTU, which read the name
    // from `*request` and write one field of it; `request` is a valid,
    // exclusively borrowed ifreq for the whole call.
    let result = unsafe { libc::ioctl(socket.as_raw_fd(), what, request as *mut libc::ifreq) };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The flags of interface `name` (`IFF_UP`, `IFF_RUNNING`, ...).
pub fn flags(name: &str) -> io::Result<libc::c_int> {
    let mut request = request(name)?;
    ask(libc::SIOCGIFFLAGS as libc::Ioctl, &mut request)?;
    // SAFETY: SIOCGIFFLAGS set `ifru_flags`; every bit pattern is a valid
    // c_short.
    let flags = unsafe { request.ifr_ifru.ifru_flags };
    // The flags are a bit set: read them unsigned, as the kernel does.
    Ok(libc::c_int::from(flags as u16))
}

/// Whether interface `name` is up (administratively: `ip link set up`).
pub fn is_up(name: &str) -> io::Result<bool> {
    Ok(flags(name)? & libc::IFF_UP != 0)
}

/// The MTU of interface `name`, in bytes.
pub fn mtu(name: &str) -> io::Result<usize> {
    let mut request = request(name)?;
    ask(libc::SIOCGIFMTU as libc::Ioctl, &mut request)?;
    // SAFETY: SIOCGIFMTU set `ifru_mtu`; every bit pattern is a valid c_int.
    let mtu = unsafe { request.ifr_ifru.ifru_mtu };
    usize::try_from(mtu).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the kernel gives {name} an MTU of {mtu}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // `lo` is in every network namespace, the test's own included.

    #[test]
    fn lo_exists_and_has_its_flags_and_mtu() {
        let index = index("lo").expect("if_nametoindex(lo)");
        assert!(index.is_some_and(|i| i > 0), "lo has no index: {index:?}");
        let mtu = mtu("lo").expect("SIOCGIFMTU on lo");
        assert!(mtu >= 1280, "lo's MTU is {mtu}");
        let flags = flags("lo").expect("SIOCGIFFLAGS on lo");
        assert!(flags & libc::IFF_LOOPBACK != 0, "lo's flags: {flags:#x}");
    }

    #[test]
    fn an_interface_that_is_not_there_has_no_index() {
        assert_eq!(index("udpk-none0").unwrap(), None);
        let error = mtu("udpk-none0").unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ENODEV), "{error}");
        let error = flags("udpk-none0").unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ENODEV), "{error}");
    }

    #[test]
    fn names_the_kernel_refuses_are_refused_before_asking() {
        for name in [
            "",
            ".",
            "..",
            "a/b",
            "tap:0",
            "tap 0",
            "a\0b",
            "sixteen-bytes-xx",
        ] {
            let error = index(name).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{name:?}");
            assert!(mtu(name).is_err(), "{name:?}");
        }
        // Fifteen bytes is the longest name.
        assert_eq!(index("fifteen-bytes-x").unwrap(), None);
    }
}
