//! The access rules file of `serve --access-rules FILE`: read and checked at start (a bad file
//! stops `serve`), read again on `SIGHUP`. The rules in force are swapped whole, so a request
//! sees either the old set or the new one, and a reload that fails keeps the old set.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::domain::access::AccessRules;

/// The rules in force and the file they come from.
#[derive(Debug)]
pub struct RulesFile {
    path: PathBuf,
    current: RwLock<Arc<AccessRules>>,
}

impl RulesFile {
    /// Reads and checks `path`; the error names the file, the line and what is wrong.
    pub fn load(path: &Path) -> Result<Arc<RulesFile>, String> {
        let rules = read(path)?;
        Ok(Arc::new(RulesFile {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(rules)),
        }))
    }

    /// Rules given directly (tests, benchmarks), as if read from `path`.
    pub fn with_rules(path: &Path, rules: AccessRules) -> Arc<RulesFile> {
        Arc::new(RulesFile {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(rules)),
        })
    }

    /// The rules in force now (one reference count: the lock is held only to copy it).
    pub fn current(&self) -> Arc<AccessRules> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file again; on success the new rules replace the old at once, otherwise
    /// the old ones stay and the error says why. Returns the number of rules now in force.
    pub fn reload(&self) -> Result<usize, String> {
        let rules = read(&self.path)?;
        let n = rules.len();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rules);
        Ok(n)
    }
}

fn read(path: &Path) -> Result<AccessRules, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("access rules {shown}: cannot read the file: {e}"))?;
    AccessRules::parse(&text).map_err(|e| format!("access rules {shown}, {e}"))
}

/// Reloads `file` on every `SIGHUP` until the process ends, logging what happened. The
/// signal is taken over before this returns, so a `SIGHUP` right after start reloads
/// instead of ending the process.
pub fn reload_on_sighup(file: Arc<RulesFile>) -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups =
        signal(SignalKind::hangup()).map_err(|e| format!("cannot listen for SIGHUP: {e}"))?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match file.reload() {
                Ok(n) => tracing::info!(
                    file = %file.path().display(),
                    rules = n,
                    "access rules reloaded"
                ),
                Err(e) => tracing::error!(
                    error = %e,
                    "access rules not reloaded; the rules in force stay"
                ),
            }
        }
    });
    Ok(())
}
