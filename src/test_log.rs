//! Test support: what the code under test logged, so that a unit test can
//! pin down a warning a user would read. Each test runs on a thread of its
//! own, and each thread keeps its own records.

use std::cell::RefCell;
use std::format;
use std::string::String;
use std::vec::Vec;

std::thread_local! {
    static RECORDS: RefCell<Vec<(log::Level, String)>> = const { RefCell::new(Vec::new()) };
}

struct ThreadLog;

impl log::Log for ThreadLog {
    fn enabled(&self, _metadata: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let text = format!("{}", record.args());
        RECORDS.with(|records| records.borrow_mut().push((record.level(), text)));
    }

    fn flush(&self) {}
}

/// Runs `f`, and returns its value and what it logged on this thread.
pub fn logged<T>(f: impl FnOnce() -> T) -> (T, Vec<(log::Level, String)>) {
    // The first test to get here installs the logger; it stays for all.
    let _ = log::set_logger(&ThreadLog);
    log::set_max_level(log::LevelFilter::Trace);
    RECORDS.with(|records| records.borrow_mut().clear());
    let value = f();
    let records = RECORDS.with(|records| records.borrow_mut().drain(..).collect());
    (value, records)
}
