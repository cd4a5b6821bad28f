//! The core's logging: `log`'s macros with the `log` feature, nothing
//! without it (as smoltcp's `net_log!`), so that an image without a logger
//! carries neither the messages nor the formatting they need.
//!
//! Without the feature the arguments are still type-checked (in a branch
//! never taken, which the compiler removes), so a variable used only in a
//! log message is no unused variable in either build.

#[cfg(feature = "log")]
macro_rules! log_at {
    ($level:ident, $($arg:tt)+) => {
        log::$level!($($arg)+)
    };
}

#[cfg(not(feature = "log"))]
macro_rules! log_at {
    ($level:ident, $($arg:tt)+) => {
        if false {
            let _ = format_args!($($arg)+);
        }
    };
}

/// `log::info!`, or nothing without the `log` feature.
// Which are used depends on the services built.
#[allow(unused_macros)]
macro_rules! log_info {
    ($($arg:tt)+) => { log_at!(info, $($arg)+) };
}

/// `log::warn!`, or nothing without the `log` feature.
// Which are used depends on the services built.
#[allow(unused_macros)]
macro_rules! log_warn {
    ($($arg:tt)+) => { log_at!(warn, $($arg)+) };
}

/// `log::debug!`, or nothing without the `log` feature.
// Which are used depends on the services built.
#[allow(unused_macros)]
macro_rules! log_debug {
    ($($arg:tt)+) => { log_at!(debug, $($arg)+) };
}
