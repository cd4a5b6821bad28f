//! The service catalog: every service udpkit ships, once.
//!
//! A port (the `udpkit serve` host binary, its kernel backend, a firmware
//! image) picks services by name from [`CATALOG`], binds each to its
//! [`ServiceInfo::default_port`] unless told otherwise, and gives it what it
//! [`Needs`]; discovery's directory is the list of what was started. A
//! service's name and standard port are defined in its own module
//! (`NAME`, `DEFAULT_PORT`) and referenced here, so adding a service is one
//! file and one line of this table.
//!
//! Each service is a cargo feature of the core, on by default; the catalog
//! holds the services built in, so a port that starts "every service of
//! the catalog" starts what its build chose.

#[cfg(feature = "chat")]
use crate::services::chat;
#[cfg(feature = "daytime")]
use crate::services::daytime;
#[cfg(feature = "discard")]
use crate::services::discard;
#[cfg(feature = "discovery")]
use crate::services::discovery;
#[cfg(feature = "echo")]
use crate::services::echo;
#[cfg(feature = "hello")]
use crate::services::hello;
#[cfg(feature = "ntp")]
use crate::services::ntp;
#[cfg(feature = "time")]
use crate::services::time;
#[cfg(feature = "upper")]
use crate::services::upper;

/// What a service needs from the port beyond its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// It answers from the wall clock: silent on a board without one until
    /// SNTP sets it (RFC 868 and 867 say to stay silent rather than lie).
    pub wall_clock: bool,
    /// It sends to peers that may be gone and wants a transmit-only second
    /// socket for them ([`Stack::set_detour`](crate::Stack::set_detour)).
    pub detour: bool,
    /// It is built from the list of the other services (discovery's
    /// directory), so the port starts it last.
    pub directory: bool,
}

impl Needs {
    /// Nothing but its socket.
    pub const NOTHING: Needs = Needs {
        wall_clock: false,
        detour: false,
        directory: false,
    };
}

/// One service of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Its name: in logs, counters, `--services` and discovery's directory.
    pub name: &'static str,
    /// The UDP port it is bound to unless the port says otherwise.
    pub default_port: u16,
    /// One line for `--help` and the README: what it answers.
    pub summary: &'static str,
    /// What it needs from the port.
    pub needs: Needs,
}

/// Every service built in, in the order a port starts them (discovery
/// last).
pub const CATALOG: &[ServiceInfo] = &[
    #[cfg(feature = "echo")]
    ServiceInfo {
        name: echo::NAME,
        default_port: echo::DEFAULT_PORT,
        summary: "RFC 862: the datagram back, byte for byte",
        needs: Needs::NOTHING,
    },
    #[cfg(feature = "discard")]
    ServiceInfo {
        name: discard::NAME,
        default_port: discard::DEFAULT_PORT,
        summary: "RFC 863: counts what it receives and answers nothing",
        needs: Needs::NOTHING,
    },
    #[cfg(feature = "daytime")]
    ServiceInfo {
        name: daytime::NAME,
        default_port: daytime::DEFAULT_PORT,
        summary: "RFC 867: the date and time as one line (UTC)",
        needs: Needs {
            wall_clock: true,
            ..Needs::NOTHING
        },
    },
    #[cfg(feature = "time")]
    ServiceInfo {
        name: time::NAME,
        default_port: time::DEFAULT_PORT,
        summary: "RFC 868: seconds since 1900 as 4 bytes",
        needs: Needs {
            wall_clock: true,
            ..Needs::NOTHING
        },
    },
    #[cfg(feature = "ntp")]
    ServiceInfo {
        name: ntp::NAME,
        default_port: ntp::DEFAULT_PORT,
        summary: "RFC 5905: NTP/SNTP server (sntp, ntpdate -q, chronyd, rdate -n)",
        needs: Needs {
            wall_clock: true,
            ..Needs::NOTHING
        },
    },
    #[cfg(feature = "upper")]
    ServiceInfo {
        name: upper::NAME,
        default_port: upper::DEFAULT_PORT,
        summary: "the datagram in ASCII upper case",
        needs: Needs::NOTHING,
    },
    #[cfg(feature = "hello")]
    ServiceInfo {
        name: hello::NAME,
        default_port: hello::DEFAULT_PORT,
        summary: "`Hello <datagram>!`; `exit` gets `Good bye!`",
        needs: Needs::NOTHING,
    },
    #[cfg(feature = "chat")]
    ServiceInfo {
        name: chat::NAME,
        default_port: chat::DEFAULT_PORT,
        summary: "multi-user chat: /nick NAME to join, /help for more",
        needs: Needs {
            detour: true,
            ..Needs::NOTHING
        },
    },
    #[cfg(feature = "discovery")]
    ServiceInfo {
        name: discovery::NAME,
        default_port: discovery::DEFAULT_PORT,
        summary: "`DISCOVER` (broadcast) gets this device's name, addresses and services",
        needs: Needs {
            directory: true,
            ..Needs::NOTHING
        },
    },
];

/// The service called `name`, if udpkit has one.
pub fn find(name: &str) -> Option<&'static ServiceInfo> {
    CATALOG.iter().find(|info| info.name == name)
}

// The tests name every service: they run with the default features.
#[cfg(all(
    test,
    feature = "echo",
    feature = "discard",
    feature = "daytime",
    feature = "time",
    feature = "ntp",
    feature = "upper",
    feature = "hello",
    feature = "chat",
    feature = "discovery"
))]
mod tests {
    use super::*;
    use crate::service::Service;
    use crate::services::chat::{Chat, ChatLimits};
    use crate::services::ntp::NtpServer;

    #[test]
    fn names_and_ports_are_unique_and_found_by_name() {
        for (i, info) in CATALOG.iter().enumerate() {
            assert_eq!(find(info.name), Some(info));
            for other in &CATALOG[i + 1..] {
                assert_ne!(info.name, other.name);
                assert_ne!(info.default_port, other.default_port, "{}", info.name);
            }
        }
        assert_eq!(find("gopher"), None);
    }

    #[test]
    fn every_service_calls_itself_what_the_catalog_calls_it() {
        let chat = Chat::<2, 2>::new(ChatLimits::default());
        let discovery = discovery::Discovery::new("a", None, &[], &[]).unwrap();
        let services: [&dyn Service; 9] = [
            &echo::Echo,
            &discard::Discard::new(),
            &daytime::Daytime,
            &time::Time,
            &NtpServer::new(),
            &upper::Upper,
            &hello::Hello,
            &chat,
            &discovery,
        ];
        for (service, info) in services.iter().zip(CATALOG) {
            assert_eq!(service.name(), info.name);
            // What the port is told and what the stack is told agree.
            assert_eq!(
                service.uses().wall_clock,
                info.needs.wall_clock,
                "{}",
                info.name
            );
        }
        assert_eq!(CATALOG[8].name, "discovery");
        assert!(CATALOG[8].needs.directory);
        // Only the chat fans out to peers that may be gone.
        let detours: usize = CATALOG.iter().filter(|i| i.needs.detour).count();
        assert_eq!(detours, 1);
    }

    #[test]
    fn each_need_is_the_need_of_the_services_that_have_it() {
        let needing = |need: fn(&Needs) -> bool| -> std::vec::Vec<&str> {
            CATALOG
                .iter()
                .filter(|info| need(&info.needs))
                .map(|info| info.name)
                .collect()
        };
        // Silent until the board knows the time: the services that tell it.
        assert_eq!(needing(|n| n.wall_clock), ["daytime", "time", "ntp"]);
        assert_eq!(needing(|n| n.detour), ["chat"]);
        assert_eq!(needing(|n| n.directory), ["discovery"]);
    }

    #[test]
    fn the_loop_guard_refuses_the_classic_ports_of_the_catalog() {
        // A datagram from one of these services' standard ports is refused,
        // so two udpkit devices never talk to each other forever.
        for info in CATALOG {
            if matches!(info.name, "echo" | "discard" | "daytime" | "time" | "ntp") {
                assert!(
                    crate::guard::SERVICE_PORTS.contains(&info.default_port),
                    "{}",
                    info.name
                );
            }
        }
    }
}
