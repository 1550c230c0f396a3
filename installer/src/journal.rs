//! The journal: one SQLite row per step (through sqlx) with the hash of its inputs, its state, when it
//! started and ended, and the tail of its output. It is what makes a rerun skip finished steps, redo
//! changed ones and resume after a crash, a kill or a reboot.

use std::path::Path;
use std::str::FromStr;

use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Where the journal lives on a node.
pub const DEFAULT_PATH: &str = "/var/lib/stackbox/journal.db";

/// The state of a step in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Started and not finished: the installer stopped while it ran (crash, kill, reboot).
    Running,
    /// Finished successfully, or found already done.
    Done,
    /// Failed; the error is recorded.
    Failed,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Done => "done",
            State::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<State> {
        match s {
            "running" => Some(State::Running),
            "done" => Some(State::Done),
            "failed" => Some(State::Failed),
            _ => None,
        }
    }
}

/// One step's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// The step's id.
    pub id: String,
    /// The hash of the inputs it last ran with.
    pub input_hash: String,
    /// Its state.
    pub state: State,
    /// When it started (RFC 3339, UTC).
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// The last lines of its output (secrets redacted).
    pub output_tail: String,
    /// The error, when it failed (secrets redacted).
    pub error: Option<String>,
}

/// A journal that could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
#[error("journal {path}: {source}")]
pub struct JournalError {
    path: String,
    #[source]
    source: sqlx::Error,
}

/// The journal of one node.
#[derive(Debug, Clone)]
pub struct Journal {
    pool: SqlitePool,
    path: String,
}

impl Journal {
    /// Opens (creating when absent) the journal at `path`; its directory is created mode 0700.
    pub async fn open(path: &Path) -> Result<Journal, JournalError> {
        let shown = path.display().to_string();
        let err = |source| JournalError {
            path: shown.clone(),
            source,
        };
        if let Some(dir) = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty() && !d.exists())
        {
            std::fs::create_dir_all(dir).map_err(|e| err(sqlx::Error::Io(e)))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| err(sqlx::Error::Io(e)))?;
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{shown}"))
            .map_err(err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Every state change must survive a power cut: the journal is what a rerun trusts.
            .synchronous(SqliteSynchronous::Full);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(err)?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS steps (
                id TEXT PRIMARY KEY,
                input_hash TEXT NOT NULL,
                state TEXT NOT NULL,
                started_at TEXT,
                finished_at TEXT,
                output_tail TEXT NOT NULL DEFAULT '',
                error TEXT
            )",
        )
        .execute(&pool)
        .await
        .map_err(err)?;
        Ok(Journal { pool, path: shown })
    }

    fn err(&self, source: sqlx::Error) -> JournalError {
        JournalError {
            path: self.path.clone(),
            source,
        }
    }

    /// The row of a step, if it ever started.
    pub async fn get(&self, id: &str) -> Result<Option<Record>, JournalError> {
        let row = sqlx::query("SELECT id, input_hash, state, started_at, finished_at, output_tail, error FROM steps WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(row.map(|r| record(&r)))
    }

    /// Every row, in the order the steps started.
    pub async fn all(&self) -> Result<Vec<Record>, JournalError> {
        let rows = sqlx::query("SELECT id, input_hash, state, started_at, finished_at, output_tail, error FROM steps ORDER BY started_at, rowid")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(record).collect())
    }

    /// Marks a step as started with these inputs.
    pub async fn begin(&self, id: &str, input_hash: &str) -> Result<(), JournalError> {
        sqlx::query(
            "INSERT INTO steps (id, input_hash, state, started_at, finished_at, output_tail, error)
             VALUES (?1, ?2, 'running', ?3, NULL, '', NULL)
             ON CONFLICT(id) DO UPDATE SET input_hash = ?2, state = 'running', started_at = ?3, finished_at = NULL, output_tail = '', error = NULL",
        )
        .bind(id)
        .bind(input_hash)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Marks a step as done (or failed, with the error) and keeps the tail of its output.
    pub async fn finish(
        &self,
        id: &str,
        input_hash: &str,
        state: State,
        output_tail: &str,
        error: Option<&str>,
    ) -> Result<(), JournalError> {
        sqlx::query(
            "INSERT INTO steps (id, input_hash, state, started_at, finished_at, output_tail, error)
             VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)
             ON CONFLICT(id) DO UPDATE SET input_hash = ?2, state = ?3, finished_at = ?4, output_tail = ?5, error = ?6",
        )
        .bind(id)
        .bind(input_hash)
        .bind(state.as_str())
        .bind(now())
        .bind(output_tail)
        .bind(error)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }
}

fn record(r: &sqlx::sqlite::SqliteRow) -> Record {
    Record {
        id: r.get("id"),
        input_hash: r.get("input_hash"),
        state: State::parse(r.get::<String, _>("state").as_str()).unwrap_or(State::Failed),
        started_at: r.get("started_at"),
        finished_at: r.get("finished_at"),
        output_tail: r.get("output_tail"),
        error: r.get("error"),
    }
}

/// The current time as RFC 3339 UTC with milliseconds, from the system clock.
fn now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, dd) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (Howard Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_716), (2023, 12, 25));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[tokio::test]
    async fn rows_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/journal.db");
        let j = Journal::open(&path).await.unwrap();
        assert_eq!(j.get("a").await.unwrap(), None);
        j.begin("a", "h1").await.unwrap();
        assert_eq!(j.get("a").await.unwrap().unwrap().state, State::Running);
        j.finish("a", "h1", State::Done, "ok\n", None)
            .await
            .unwrap();
        j.begin("b", "h2").await.unwrap();
        j.finish("b", "h2", State::Failed, "", Some("boom"))
            .await
            .unwrap();
        drop(j);
        let j = Journal::open(&path).await.unwrap();
        let a = j.get("a").await.unwrap().unwrap();
        assert_eq!(
            (a.state, a.input_hash.as_str(), a.output_tail.as_str()),
            (State::Done, "h1", "ok\n")
        );
        assert!(a.started_at.unwrap().ends_with('Z'));
        let b = j.get("b").await.unwrap().unwrap();
        assert_eq!((b.state, b.error.as_deref()), (State::Failed, Some("boom")));
        assert_eq!(j.all().await.unwrap().len(), 2);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(dir.path().join("state"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
    }
}
