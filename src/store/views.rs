//! Typed per-job views: their names, which jobs of a batch may have theirs, their columns, the
//! SQL that creates them and when a run rebuilds one.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use sqlx::AssertSqlSafe;

use super::Result;
use super::db::{Db, Statement, query};
use super::records::{Column, JobRecord, SqlType, ViewClash};

/// Tables and views huntd owns; a job view may not take one of these names.
const RESERVED_VIEW_NAMES: [&str; 11] = [
    "hunt_jobs",
    "hunt_runs",
    "hunt_results",
    "hunt_findings",
    "hunt_finding_state",
    "hunt_columns",
    "hunt_gaps",
    "hunt_coverage_gaps",
    "hunt_deliveries",
    "hunt_suppressions",
    "hunt_suppressed_counts",
];

/// The typed view of a job: `hunt_<name>` with every character outside `[a-z0-9_]` as `_`
/// (`hunt_job_<name>` when that would shadow one of huntd's own tables).
pub fn view_name(job: &str) -> String {
    let safe: String = job
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = format!("hunt_{safe}");
    if RESERVED_VIEW_NAMES.contains(&name.as_str()) {
        format!("hunt_job_{safe}")
    } else {
        name
    }
}

/// One column of a typed view: the JSON key it reads, the SQL name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ViewColumn {
    /// The result column's name: the JSON key.
    pub key: String,
    /// The view column's identifier, unquoted.
    pub ident: String,
    /// What the backend casts the value to.
    pub sql_type: SqlType,
}

/// Columns the view adds before the result columns.
const VIEW_FIXED_COLUMNS: [&str; 6] = [
    "run_id",
    "instance",
    "slot_at",
    "window_start",
    "window_end",
    "row_num",
];

/// PostgreSQL truncates identifiers beyond this many bytes.
const MAX_IDENT_BYTES: usize = 63;

/// Plans a job view's result columns: unique identifiers (`fold` applied, clashing names get a
/// `_2`, `_3` suffix), at most `limit` of them, in result order. Every name is kept, quoted: a
/// blank name becomes `column_<position>` and a NUL in a name `_`, since neither can be an
/// identifier.
fn plan_view_columns(
    columns: &[Column],
    fold: fn(&str) -> String,
    limit: usize,
) -> Vec<ViewColumn> {
    let mut taken: HashSet<String> = VIEW_FIXED_COLUMNS
        .iter()
        .map(|c| fold(c).to_ascii_lowercase())
        .collect();
    let mut planned = Vec::with_capacity(columns.len().min(limit));
    for (position, column) in columns.iter().enumerate().take(limit) {
        let mut base = if column.name.is_empty() {
            format!("column_{position}")
        } else {
            fold(&column.name).replace('\0', "_")
        };
        while base.len() > MAX_IDENT_BYTES - 4 {
            base.pop();
        }
        let mut ident = base.clone();
        let mut n = 2;
        // Both backends compare identifiers case-insensitively (PostgreSQL after folding).
        while !taken.insert(ident.to_ascii_lowercase()) {
            ident = format!("{base}_{n}");
            n += 1;
        }
        planned.push(ViewColumn {
            key: column.name.clone(),
            ident,
            sql_type: SqlType::of(&column.type_name),
        });
    }
    planned
}

/// The note a run records when its typed view cannot show all its columns: which it shows.
pub(super) fn left_out_note(
    dialect: &ViewDialect,
    view: &str,
    columns: &[Column],
) -> Option<String> {
    let kept = dialect.max_result_columns;
    (columns.len() > kept).then(|| {
        format!(
            "typed view {view} shows the first {kept} of {} result columns (the most {} allows); \
             the other {} are only in hunt_results.data",
            columns.len(),
            dialect.name,
            columns.len() - kept
        )
    })
}

/// Quotes an SQL identifier.
fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Quotes an SQL string literal.
pub(super) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Which form of `view_sql` built a view (2: Dynamic nulls are SQL NULL, no column dropped).
const VIEW_SQL_VERSION: &[u8] = b"view-sql-2\0";

/// Identifies a view definition: changes when the query or its result schema changes.
fn view_sha256(query_sha256: &str, columns: &[Column]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    // The version of the view's SQL: bumping it rebuilds every view on its job's next run.
    hasher.update(VIEW_SQL_VERSION);
    hasher.update(query_sha256.as_bytes());
    for column in columns {
        hasher.update([0]);
        hasher.update(column.name.as_bytes());
        hasher.update([1]);
        hasher.update(column.type_name.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The jobs of a batch to write, each with its view name, and those left out: a job clashes when
/// `owners` (view name to job name, from the store) or an earlier job of the batch has its view.
/// A name listed twice keeps its last record.
pub(super) fn plan_upsert(
    jobs: &[JobRecord],
    mut owners: HashMap<String, String>,
) -> (Vec<(&JobRecord, String)>, Vec<ViewClash>) {
    let mut accepted: Vec<(&JobRecord, String)> = Vec::with_capacity(jobs.len());
    let mut positions = HashMap::with_capacity(jobs.len());
    let mut clashes = Vec::new();
    for job in jobs {
        let view = view_name(&job.name);
        match owners.get(&view) {
            Some(other) if *other != job.name => clashes.push(ViewClash {
                job: job.name.clone(),
                view,
                other: other.clone(),
            }),
            _ => {
                owners.insert(view.clone(), job.name.clone());
                if let Some(&at) = positions.get(job.name.as_str()) {
                    accepted[at] = (job, view);
                } else {
                    positions.insert(job.name.as_str(), accepted.len());
                    accepted.push((job, view));
                }
            }
        }
    }
    (accepted, clashes)
}

/// How one backend spells a typed view.
#[derive(Debug)]
pub(super) struct ViewDialect {
    /// The backend's name, for messages.
    pub name: &'static str,
    /// How many result columns a view can have beside [`VIEW_FIXED_COLUMNS`].
    pub max_result_columns: usize,
    /// The select list of the columns every view starts with ([`VIEW_FIXED_COLUMNS`]).
    pub fixed_columns: &'static str,
    /// Folds a result column name into the identifier analysts type.
    pub fold: fn(&str) -> String,
    /// The expression reading one result column from `r.data` as its SQL type.
    pub column_expr: fn(&ViewColumn) -> String,
}

/// The `create view` statement of a job's typed view over the runs of one query text.
pub(super) fn view_sql(
    dialect: &ViewDialect,
    view: &str,
    job: &str,
    query_sha256: &str,
    columns: &[Column],
) -> String {
    let mut sql = format!(
        "create view {} as select {}",
        quote_ident(view),
        dialect.fixed_columns
    );
    for column in plan_view_columns(columns, dialect.fold, dialect.max_result_columns) {
        let _ = write!(
            sql,
            ", {} as {}",
            (dialect.column_expr)(&column),
            quote_ident(&column.ident)
        );
    }
    let _ = write!(
        sql,
        r" from hunt_results r join hunt_runs u on u.id = r.run_id where u.job = {} and u.query_sha256 = {}",
        quote_literal(job),
        quote_literal(query_sha256)
    );
    sql
}

/// How a backend records a run's result columns inside `finish_run`'s transaction.
#[async_trait::async_trait]
pub(super) trait ViewWriter: Send {
    /// Records the result columns in `hunt_columns` for `(job, query_sha256)`, which has none.
    async fn insert_columns(
        &mut self,
        job: &str,
        query_sha256: &str,
        columns: &[Column],
    ) -> Result<()>;
}

/// A job's view as `finish_run` found it, and the run that may need it rebuilt.
#[derive(Debug)]
pub(super) struct ViewState<'a> {
    /// The job.
    pub job: &'a str,
    /// Its view name.
    pub view: &'a str,
    /// The definition the view has now, if any.
    pub current_sha256: Option<&'a str>,
    /// The run's query hash.
    pub query_sha256: &'a str,
    /// The run's result schema.
    pub columns: &'a [Column],
}

/// Rebuilds the job's view when the run's query or result schema differs from the one it was
/// built for, so an unchanged job costs no DDL.
pub(super) async fn refresh_view<DB: Db>(
    conn: &mut DB::Connection,
    dialect: &ViewDialect,
    state: &ViewState<'_>,
) -> Result<()>
where
    DB::Connection: ViewWriter,
{
    let wanted = view_sha256(state.query_sha256, state.columns);
    if state.current_sha256 == Some(wanted.as_str()) {
        return Ok(());
    }
    query::<DB>(r"delete from hunt_columns where job = $1 and query_sha256 = $2")
        .arg(state.job)
        .arg(state.query_sha256)
        .run(&mut *conn)
        .await?;
    conn.insert_columns(state.job, state.query_sha256, state.columns)
        .await?;
    // Identifiers are quoted and job names are data in literals: see `quote_ident`.
    let statements = [
        format!("drop view if exists {}", quote_ident(state.view)),
        view_sql(
            dialect,
            state.view,
            state.job,
            state.query_sha256,
            state.columns,
        ),
        format!(
            "update hunt_jobs set view_sha256 = {} where name = {}",
            quote_literal(&wanted),
            quote_literal(state.job)
        ),
    ];
    for statement in statements {
        sqlx::query::<DB>(AssertSqlSafe(statement))
            .run(&mut *conn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_names_are_safe_identifiers_that_never_shadow_huntd_tables() {
        assert_eq!(view_name("encoded-powershell"), "hunt_encoded_powershell");
        assert_eq!(view_name("Weird Name;drop"), "hunt_weird_name_drop");
        assert_eq!(view_name("runs"), "hunt_job_runs");
        assert_eq!(view_name("coverage_gaps"), "hunt_job_coverage_gaps");
    }

    #[test]
    fn view_columns_get_unique_names_and_keep_every_key() {
        let columns = [
            Column {
                name: "run_id".into(),
                type_name: "String".into(),
            },
            Column {
                name: "DeviceName".into(),
                type_name: "String".into(),
            },
            Column {
                name: "devicename".into(),
                type_name: "String".into(),
            },
            Column {
                name: "bad\"name".into(),
                type_name: "String".into(),
            },
        ];
        let planned = plan_view_columns(&columns, str::to_lowercase, 10);
        let idents: Vec<&str> = planned.iter().map(|c| c.ident.as_str()).collect();
        assert_eq!(
            idents,
            ["run_id_2", "devicename", "devicename_2", "bad\"name"]
        );
        assert_eq!(plan_view_columns(&columns, str::to_lowercase, 2).len(), 2);
    }
}
