//! The fuzz targets' corpora, replayed: every input checked in under
//! `fuzz/corpus/TARGET/` goes through the very function the fuzz target
//! runs (`udpkit_testing::fuzz`), invariant checks included. A crash the
//! fuzzer once found and a minimized campaign's coverage are re-run by the
//! ordinary `cargo test`, without nightly or cargo-fuzz (see README.md,
//! "Fuzzing", and scripts/fuzz.sh for campaigns).

use std::fs;
use std::path::{Path, PathBuf};

use udpkit_testing::fuzz::{seeds, TARGETS};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Every file of a target's corpus, sorted by name.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

/// Runs `target` on every input of its corpus; a failure names the file.
fn replay(name: &str) {
    let (_, run) = TARGETS
        .iter()
        .find(|(target, _)| *target == name)
        .expect("a target of udpkit_testing::fuzz");
    let inputs = corpus(name);
    assert!(!inputs.is_empty(), "the corpus of {name} is empty");
    for (path, bytes) in &inputs {
        let outcome = std::panic::catch_unwind(|| run(bytes));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{name}: {} fails: {message}", path.display());
        }
    }
}

#[test]
fn wire_ntp_corpus() {
    replay("wire_ntp");
}

#[test]
fn wire_discovery_corpus() {
    replay("wire_discovery");
}

#[test]
fn wire_chat_command_corpus() {
    replay("wire_chat_command");
}

#[test]
fn wire_chat_server_line_corpus() {
    replay("wire_chat_server_line");
}

#[test]
fn chat_corpus() {
    replay("chat");
}

#[test]
fn sntp_corpus() {
    replay("sntp");
}

#[test]
fn stack_corpus() {
    replay("stack");
}

/// The seeds checked in are what `udpkit_testing::fuzz::seeds` builds
/// (frames from smoltcp's emitters, checksums right); with
/// `UDPKIT_WRITE_SEEDS=1` this writes them instead.
#[test]
fn the_seeds_checked_in_are_those_the_generator_builds() {
    let write = std::env::var_os("UDPKIT_WRITE_SEEDS").is_some_and(|v| v == "1");
    for (target, name, bytes) in seeds::all() {
        let path = corpus_dir(target).join(&name);
        if write {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, &bytes).unwrap();
            continue;
        }
        let checked_in = fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (UDPKIT_WRITE_SEEDS=1 cargo test --test fuzz_corpus writes the seeds)",
                path.display()
            )
        });
        assert!(
            checked_in == bytes,
            "{} differs from what the generator builds (UDPKIT_WRITE_SEEDS=1 rewrites it)",
            path.display()
        );
    }
}

/// Every seed runs clean through its target, so a seed that stopped
/// meaning what it says (an op format changed) shows here.
#[test]
fn every_seed_runs_clean() {
    for (target, name, bytes) in seeds::all() {
        let (_, run) = TARGETS.iter().find(|(t, _)| *t == target).unwrap();
        if std::panic::catch_unwind(|| run(&bytes)).is_err() {
            panic!("{target}/{name} fails");
        }
    }
}
