//! SQLite's typed views: how a result column is read from a stored row, and the writes that
//! replace a job's recorded columns and its view.

use std::fmt::Write as _;

use sqlx::SqliteConnection;

use crate::store::Result;
use crate::store::records::{Column, SqlType};
use crate::store::views::{ViewColumn, ViewDialect, ViewWriter, quote_literal};

/// The JSON path of an object key: SQLite ends a quoted label at the first `"` but reads
/// escapes inside it, so `"`, `\\` and control characters (a NUL would end the SQL text) are
/// written as JSON escapes.
fn json_path(key: &str) -> String {
    let mut path = String::with_capacity(key.len() + 4);
    path.push_str("$.\"");
    for c in key.chars() {
        match c {
            '"' => path.push_str("\\u0022"),
            '\\' => path.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(path, "\\u{:04x}", u32::from(c));
            }
            c => path.push(c),
        }
    }
    path.push('"');
    path
}

/// Expression reading one result column from `r.data` as its SQL type.
fn column_expr(column: &ViewColumn) -> String {
    let path = quote_literal(&json_path(&column.key));
    match column.sql_type {
        SqlType::Timestamp | SqlType::Text | SqlType::Boolean => {
            format!("json_extract(r.data, {path})")
        }
        SqlType::BigInt => format!("cast(json_extract(r.data, {path}) as integer)"),
        SqlType::Double => format!("cast(json_extract(r.data, {path}) as real)"),
        // `->` gives a JSON null as the text `null`; every other type reads it as SQL NULL.
        SqlType::Json => format!("nullif(r.data -> {path}, 'null')"),
    }
}

/// SQLite's typed views: result column names kept as written, each column aliased, since
/// SQLite does not promise a result column's name without one.
pub(super) const DIALECT: ViewDialect = ViewDialect {
    name: "SQLite",
    // SQLITE_MAX_COLUMN (2000, as bundled) bounds a select's result, fixed columns included.
    max_result_columns: 2000 - 6,
    fixed_columns: "r.run_id as run_id, u.instance as instance, u.slot_at as slot_at, u.window_start as window_start, u.window_end as window_end, r.row_num as row_num",
    fold: str::to_string,
    column_expr,
};

#[async_trait::async_trait]
impl ViewWriter for SqliteConnection {
    async fn insert_columns(
        &mut self,
        job: &str,
        query_sha256: &str,
        columns: &[Column],
    ) -> Result<()> {
        for (position, column) in columns.iter().enumerate() {
            sqlx::query(
                r"insert into hunt_columns (job, query_sha256, position, name, type)
                  values (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(job)
            .bind(query_sha256)
            .bind(i64::try_from(position).expect("a slice index fits in i64"))
            .bind(&column.name)
            .bind(&column.type_name)
            .execute(&mut *self)
            .await?;
        }
        Ok(())
    }
}
