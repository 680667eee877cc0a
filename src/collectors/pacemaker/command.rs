//! Running crm_mon and cibadmin: no shell, a hard timeout, bounded output.
//!
//! The child gets its own process group, and on timeout the whole group is killed with SIGKILL:
//! a hung crm_mon (a wedged CIB manager, a stuck disk) or a wrapper script and its children must
//! never pile up one process per poll. Output is read up to a limit, so a binary printing without
//! end cannot exhaust memory; a child that exceeds it is killed like a hung one.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// Far above what crm_mon prints for a real cluster (tens of kilobytes for hundreds of resources).
pub const MAX_STDOUT: u64 = 16 * 1024 * 1024;
/// Enough for any error message; the rest is dropped.
const MAX_STDERR: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    #[error("{} not found", .0.display())]
    NotFound(PathBuf),
    #[error("cannot run {}: {}", .0.display(), .1)]
    Spawn(PathBuf, String),
    #[error("{} did not finish within {:.1} s; killed", .0.display(), .1.as_secs_f64())]
    Timeout(PathBuf, Duration),
    #[error("{} printed more than {} bytes; killed", .0.display(), MAX_STDOUT)]
    TooMuchOutput(PathBuf),
    #[error("reading the output of {}: {}", .0.display(), .1)]
    Read(PathBuf, String),
}

/// What a finished child left.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The first non-empty stderr line, for one-line reasons.
    pub fn stderr_line(&self) -> &str {
        self.stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
    }
}

/// Run `program args` with `envs` added to the inherited environment (so `CIB_file` set for the
/// daemon reaches the tools too), killing it after `timeout`.
pub async fn run(
    program: &Path,
    args: &[&str],
    envs: &[(&str, &OsStr)],
    timeout: Duration,
) -> Result<Output, ToolError> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so a timeout kills the child's children too.
        .process_group(0)
        .kill_on_drop(true);
    for (name, value) in envs {
        command.env(name, value);
    }
    let mut child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ToolError::NotFound(program.to_owned()),
        _ => ToolError::Spawn(program.to_owned(), e.to_string()),
    })?;
    // Armed until the child has been waited for: on timeout, on an error, or when the poll is
    // dropped (shutdown), the whole group is killed.
    let mut group = GroupGuard(child.id().and_then(|p| i32::try_from(p).ok()));
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let work = async {
        let (out, err) = tokio::join!(
            read_limited(stdout, MAX_STDOUT),
            read_limited(stderr, MAX_STDERR)
        );
        let (out, out_truncated) =
            out.map_err(|e| ToolError::Read(program.to_owned(), e.to_string()))?;
        if out_truncated {
            return Err(ToolError::TooMuchOutput(program.to_owned()));
        }
        let (err, _) = err.map_err(|e| ToolError::Read(program.to_owned(), e.to_string()))?;
        let status = child
            .wait()
            .await
            .map_err(|e| ToolError::Read(program.to_owned(), e.to_string()))?;
        Ok(Output {
            status,
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
        })
    };
    let result = match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(ToolError::Timeout(program.to_owned(), timeout)),
    };
    if result.is_ok() {
        // Reaped: its pid (and group id) may be reused by now, so never signal it again.
        group.0 = None;
    }
    result
}

/// SIGKILLs the child's process group (its pid is the group id) when dropped while armed.
/// Dropping the child also kills the child itself (kill_on_drop) and tokio reaps it in the
/// background; this reaches what the child started.
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Read at most `limit` bytes; the flag says whether more was available.
async fn read_limited<R: AsyncRead + Unpin>(
    reader: Option<R>,
    limit: u64,
) -> std::io::Result<(Vec<u8>, bool)> {
    let Some(reader) = reader else {
        return Ok((Vec::new(), false));
    };
    let mut buffer = Vec::new();
    let mut limited = reader.take(limit + 1);
    limited.read_to_end(&mut buffer).await?;
    let truncated = buffer.len() as u64 > limit;
    buffer.truncate(limit as usize);
    Ok((buffer, truncated))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn missing_binary_is_named() {
        let err = run(
            Path::new("/nonexistent/crm_mon"),
            &[],
            &[],
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert_eq!(err, ToolError::NotFound("/nonexistent/crm_mon".into()));
    }

    /// No such process, or only its zombie (killed, not yet reaped by whoever adopted it).
    fn gone(pid: &str) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
        }
    }

    #[tokio::test]
    async fn hung_child_and_its_children_are_killed_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        // The shell, a background sleep and a foreground one, each recording its pid.
        let script = format!(
            "sleep 30 & a=$!; sleep 30 & echo \"$$ $a $!\" > '{}'; wait; echo never",
            pids.display()
        );
        let start = Instant::now();
        let err = run(
            Path::new("/bin/sh"),
            &["-c", &script],
            &[],
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ToolError::Timeout(..)), "{err}");
        assert!(start.elapsed() < Duration::from_secs(2));
        let recorded = std::fs::read_to_string(&pids).unwrap();
        let recorded: Vec<&str> = recorded.split_whitespace().collect();
        assert_eq!(recorded.len(), 3, "{recorded:?}");
        let killed = Instant::now();
        for pid in &recorded {
            while !gone(pid) {
                assert!(
                    killed.elapsed() < Duration::from_secs(1),
                    "pid {pid} still running after the timeout ({recorded:?})"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    #[tokio::test]
    async fn endless_output_is_cut_off() {
        let err = run(Path::new("/usr/bin/yes"), &[], &[], Duration::from_secs(20))
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::TooMuchOutput(..)), "{err}");
    }

    #[tokio::test]
    async fn output_status_and_environment() {
        let out = run(
            Path::new("/bin/sh"),
            &["-c", "echo \"$CIB_file\"; echo oops >&2; exit 3"],
            &[("CIB_file", OsStr::new("/tmp/x.xml"))],
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(out.stdout, "/tmp/x.xml\n");
        assert_eq!(out.stderr_line(), "oops");
        assert_eq!(out.status.code(), Some(3));
    }
}
