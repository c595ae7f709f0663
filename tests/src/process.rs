//! Child processes for the harnesses (`ibws relay`, `ibws bridge`): started with their
//! stderr in a log file, killed with SIGKILL (never asked to stop), measured by RSS.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A child process, killed with SIGKILL when dropped.
pub struct Proc {
    child: Child,
}

impl Proc {
    /// Starts `bin args`, stdout discarded, stderr appended to `log`; `RUST_LOG` is
    /// `IBWS_CHAOS_LOG` or `info`.
    pub fn spawn(bin: &Path, args: &[String], log: &Path) -> Proc {
        Proc::spawn_logging(bin, args, log, &std::env::var("IBWS_CHAOS_LOG").unwrap_or_else(|_| "info".into()))
    }

    /// Like [`Proc::spawn`], with `RUST_LOG` set to `rust_log`.
    pub fn spawn_logging(bin: &Path, args: &[String], log: &Path, rust_log: &str) -> Proc {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("open process log");
        let child = Command::new(bin)
            .args(args)
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        Proc { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in bytes (Linux `/proc`), if the process is alive.
    pub fn rss_bytes(&self) -> Option<u64> {
        rss_bytes(self.child.id())
    }

    /// SIGKILL, then reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the process to exit for at most `within`: how long it
    /// took, or `None` if it is still running (it is then killed when dropped).
    pub fn terminate(&mut self, within: Duration) -> Option<Duration> {
        let start = std::time::Instant::now();
        // SAFETY: kill(2) on our own child's pid, which is not reaped yet
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        while start.elapsed() < within {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until the process accepts on the loopback `port`; fails at once if it
    /// exits first (its log says why).
    pub fn wait_listening(&mut self, port: u16, log: &Path) {
        let child = &mut self.child;
        wait_accepting(port, &format!("see {}", log.display()), || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the server exited ({status}) before listening on 127.0.0.1:{port}: see {}", log.display());
            }
        });
    }
}

/// How long a server may take to listen: a cold first start (workerd compiling the
/// relay's wasm, Bun, Python) on a loaded two-core machine took over 5 s.
const LISTEN_WAIT: Duration = Duration::from_secs(60);

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `VmRSS` of a process, in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// Waits (up to [`LISTEN_WAIT`]) until something accepts on a loopback port.
pub fn wait_port(port: u16) {
    wait_accepting(port, "no server log", || {});
}

/// Polls `port` until it accepts, calling `check` between tries (it may panic to
/// stop the wait early), for at most [`LISTEN_WAIT`]; `hint` ends the panic message.
fn wait_accepting(port: u16, hint: &str, mut check: impl FnMut()) {
    let deadline = std::time::Instant::now() + LISTEN_WAIT;
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        check();
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing listens on 127.0.0.1:{port} after {LISTEN_WAIT:?}: {hint}");
}

/// The `ibws` binary for tests and benchmarks that run it as a separate process:
/// built first in the profile of whatever is running (debug for tests, release for
/// `cargo bench` and release builds of the tools; a no-op when it is up to date), then
/// found next to it.
pub fn built_ibws_bin() -> std::path::PathBuf {
    let mut args = vec!["build", "-q", "-p", "ibws-bridge", "--bin", "ibws"];
    if !cfg!(debug_assertions) {
        args.push("--release");
    }
    let ok = Command::new(env!("CARGO"))
        .args(&args)
        .current_dir(crate::repo_root())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "cargo build -p ibws-bridge --bin ibws");
    crate::chaos::default_ibws_bin()
}
