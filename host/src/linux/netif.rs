//! Network interfaces as the kernel sees them from this process's network
//! namespace: whether one exists, whether it is up, its MTU, and the
//! addresses of those that are up.
//!
//! The kernel is asked (`if_nametoindex(3)`, and `SIOCGIFFLAGS` and
//! `SIOCGIFMTU` on a socket), never /sys/class/net: sysfs shows the
//! interfaces of the namespace it was mounted in, which is not the process's
//! own when it entered a namespace by `unshare --net` or `nsenter --net`.
//! A socket belongs to the namespace of the process that made it, and so do
//! the answers about interfaces asked through it.

use std::ffi::CString;
use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;

/// Checks `name` the way the kernel checks interface names (`dev_valid_name`):
/// 1 to 15 bytes, not `.` or `..`, no `/`, `:`, white space or NUL. The
/// name as a C string.
pub fn c_name(name: &str) -> io::Result<CString> {
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

/// The addresses of the interfaces that are up, each with its prefix
/// length, as `getifaddrs(3)` lists them (loopback and link-local
/// included); empty when it fails.
pub fn up_addresses() -> Vec<(IpAddr, u8)> {
    let mut found = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a pointer to a list it allocates into
    // `list`, a local that outlives the call.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return found;
    }
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: `entry` is a non-null node of the list getifaddrs made,
        // which lives until freeifaddrs below; it is only read.
        let e = unsafe { &*entry };
        entry = e.ifa_next;
        if e.ifa_flags & libc::IFF_UP as u32 == 0 || e.ifa_addr.is_null() || e.ifa_netmask.is_null()
        {
            continue;
        }
        // SAFETY: both pointers are non-null and point into the list,
        // to sockaddrs of the size their family says.
        let (address, mask) = unsafe { (sockaddr_ip(e.ifa_addr), sockaddr_ip(e.ifa_netmask)) };
        if let (Some(address), Some(mask)) = (address, mask) {
            found.push((address, prefix_len(mask)));
        }
    }
    // SAFETY: `list` came from getifaddrs and is freed once; no reference
    // into it is left.
    unsafe { libc::freeifaddrs(list) };
    found
}

/// The IP address in a `sockaddr` of family AF_INET or AF_INET6.
///
/// # Safety
/// `address` must point to a valid sockaddr of the size its family says.
unsafe fn sockaddr_ip(address: *const libc::sockaddr) -> Option<IpAddr> {
    // SAFETY: the caller's promise: a valid sockaddr, which starts with its
    // family, and is a sockaddr_in or sockaddr_in6 when the family says so.
    unsafe {
        match i32::from((*address).sa_family) {
            libc::AF_INET => {
                let v4 = &*(address as *const libc::sockaddr_in);
                Some(IpAddr::from(u32::from_be(v4.sin_addr.s_addr).to_be_bytes()))
            }
            libc::AF_INET6 => {
                let v6 = &*(address as *const libc::sockaddr_in6);
                Some(IpAddr::from(v6.sin6_addr.s6_addr))
            }
            _ => None,
        }
    }
}

/// The prefix length of a netmask.
fn prefix_len(mask: IpAddr) -> u8 {
    match mask {
        IpAddr::V4(m) => u32::from(m).leading_ones() as u8,
        IpAddr::V6(m) => u128::from(m).leading_ones() as u8,
    }
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

    #[test]
    fn lo_is_up_with_its_addresses() {
        assert!(is_up("lo").unwrap());
        let found = up_addresses();
        assert!(
            found.contains(&(IpAddr::from([127, 0, 0, 1]), 8)),
            "{found:?}"
        );
    }

    #[test]
    fn prefix_lengths_from_masks() {
        assert_eq!(prefix_len("255.255.255.0".parse().unwrap()), 24);
        assert_eq!(prefix_len("ffff:ffff:ffff:ffff::".parse().unwrap()), 64);
        assert_eq!(prefix_len("0.0.0.0".parse().unwrap()), 0);
    }
}
