//! A child process that is killed and reaped on drop, with its output in a
//! log file so a failing test can show why the server died.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::Error;

#[derive(Debug)]
pub(crate) struct Supervised {
    child: Option<Child>,
    program: String,
    log: PathBuf,
}

impl Supervised {
    /// Spawns `command` with stdout and stderr appended to `log`.
    pub(crate) fn spawn(mut command: Command, log: &Path) -> Result<Self, Error> {
        let program = command.get_program().to_string_lossy().into_owned();
        let out = File::options().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = command.spawn().map_err(|source| Error::Spawn {
            program: program.clone(),
            source,
        })?;
        Ok(Self {
            child: Some(child),
            program,
            log: log.to_path_buf(),
        })
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `Some(description)` once the process has exited.
    pub(crate) fn exited(&mut self) -> Option<String> {
        match self.child.as_mut().map(Child::try_wait) {
            None => Some("it was stopped".into()),
            Some(Ok(Some(status))) => Some(format!("{} exited: {status}", self.program)),
            Some(Ok(None)) => None,
            Some(Err(e)) => Some(format!("cannot wait for {}: {e}", self.program)),
        }
    }

    /// SIGKILL, then reap so no zombie outlives the test.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait for the process to exit by itself.
    pub(crate) fn terminate(&mut self) -> Result<std::process::ExitStatus, Error> {
        let Some(mut child) = self.child.take() else {
            return Err(Error::Missing(format!("{} is not running", self.program)));
        };
        run(Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string()))?;
        Ok(child.wait()?)
    }

    pub(crate) fn log(&self) -> &Path {
        &self.log
    }

    /// The last lines of the log, for error messages.
    pub(crate) fn tail(&self) -> String {
        log_tail(&self.log)
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Runs a short helper command to completion and fails with its output.
pub(crate) fn run(command: &mut Command) -> Result<String, Error> {
    let rendered = format!("{command:?}");
    let program = command.get_program().to_string_lossy().into_owned();
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn { program, source })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(Error::Command {
            command: rendered,
            status: out.status.to_string(),
            output: text,
        })
    }
}

/// Fails with a clear message when `program` is not on PATH.
pub(crate) fn require_on_path(program: &str, hint: &str) -> Result<PathBuf, Error> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Missing(format!("`{program}` is not on PATH: {hint}")))
}
