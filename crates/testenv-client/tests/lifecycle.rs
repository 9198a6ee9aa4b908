//! The testenv binary starts cold within seconds and, stopped by SIGTERM or
//! by its stdin closing, leaves no process and no directory behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should stop the test loudly

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn binary() -> PathBuf {
    let path = match std::env::var_os(palisade_testenv::BIN_ENV) {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testenv/bin/palisade-testenv"),
    };
    assert!(
        path.is_file(),
        "{} is missing: run scripts/build-testenv.sh",
        path.display()
    );
    path
}

/// Starts the binary and returns it with its state directory once ready.
fn start() -> (Child, PathBuf, Duration) {
    let started = Instant::now();
    let mut child = Command::new(binary())
        .arg("--exit-on-stdin-eof")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let line = stdout
        .lines()
        .map(Result::unwrap)
        .find(|l| l.starts_with("READY "))
        .expect("no READY line");
    let took = started.elapsed();
    let dir = line
        .split_whitespace()
        .find_map(|f| f.strip_prefix("dir="))
        .map(PathBuf::from)
        .unwrap();
    assert!(dir.join("admin.kubeconfig").is_file());
    assert!(dir.join("ready").is_file());
    (child, dir, took)
}

/// Waits for the child to exit and returns how long that took.
fn wait_exit(child: &mut Child) -> Duration {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "testenv exited with {status}");
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "testenv still running 60s after being told to stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn cold_start_is_quick_and_sigterm_leaves_nothing_behind() {
    let (mut child, dir, took) = start();
    eprintln!("testenv cold start to ready: {:.1}s", took.as_secs_f64());
    assert!(took < Duration::from_secs(60), "cold start took {took:?}");

    let pid = child.id();
    let status = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    let stopping = wait_exit(&mut child);
    eprintln!("testenv stop after SIGTERM: {:.1}s", stopping.as_secs_f64());
    assert!(!process_exists(pid), "process {pid} still exists");
    assert!(!dir.exists(), "{} was left behind", dir.display());
}

#[test]
fn closing_stdin_stops_it_and_leaves_nothing_behind() {
    let (mut child, dir, _) = start();
    let pid = child.id();
    drop(child.stdin.take());
    wait_exit(&mut child);
    assert!(!process_exists(pid), "process {pid} still exists");
    assert!(!dir.exists(), "{} was left behind", dir.display());
}
