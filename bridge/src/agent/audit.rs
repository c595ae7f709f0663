//! The append-only audit log of every agent tool call and its outcome, one JSON object
//! per line: when, which agent, which tool, the arguments it gave (order fields, never
//! a token or secret: the tools take none), and what came of it. Opened for appending
//! only; a line is written and flushed before the tool answers, so a crash loses no
//! line of a call the agent was told about.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Value};

/// An audit log file (or none, when the user turned it off).
pub struct AuditLog {
    file: Option<Mutex<File>>,
    path: Option<PathBuf>,
}

impl AuditLog {
    /// Opens `path` for appending (created if missing, 0600 on Unix).
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        let mut o = OpenOptions::new();
        o.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        Ok(AuditLog { file: Some(Mutex::new(o.open(path)?)), path: Some(path.to_owned()) })
    }

    /// No log.
    pub fn off() -> AuditLog {
        AuditLog { file: None, path: None }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Appends one call and its outcome (`ok` with a result, or `refused`/`error`
    /// with the reason).
    pub fn record(&self, unix_ms: i64, agent: &str, tool: &str, args: &Value, outcome: &str, detail: &Value) {
        let Some(file) = &self.file else { return };
        let line = json!({
            "time_ms": unix_ms,
            "agent": agent,
            "tool": tool,
            "args": args,
            "outcome": outcome,
            "detail": detail,
        });
        let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
        let mut bytes = line.to_string().into_bytes();
        bytes.push(b'\n');
        if let Err(e) = f.write_all(&bytes).and_then(|()| f.flush()) {
            tracing::error!(error = %e, "cannot append to the agent audit log");
        }
    }
}
