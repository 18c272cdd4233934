//! What the flows written once for both backends need of a database (sqlx's `Sqlite` or
//! `Postgres`): binding the values they pass, running a statement and reading its rows.
//!
//! sqlx's generic API wants a bound per value type (`i64: Encode<DB> + Type<DB>`, ...) on every
//! generic function that binds one, and Rust does not carry such bounds along with `DB`. Here
//! each is a supertrait of the database type itself ([`Db`]), which Rust does carry: a flow
//! says `DB: Db` once and binds with [`Statement::arg`]. Each backend still writes its own SQL;
//! the flows take it as `&'static str`s.

use std::future::Future;

use chrono::{DateTime, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgQueryResult, PgTypeInfo};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteQueryResult, SqliteTypeInfo};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Postgres, Sqlite, Type};

use super::Result;
use super::deliveries::DeliveryRow;
use super::records::{FindingRecord, Lease, RunRecord};
use super::status::{CoverageGap, FailureStreak, InstanceUsage, JobTotals, WindowSpan};

/// A statement of database `DB` with the values bound so far.
pub(super) type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments>;

/// A statement of `DB` from a backend's SQL text, nothing bound yet.
pub(super) fn query<DB: Database>(sql: &'static str) -> Query<'static, DB> {
    sqlx::query(sql)
}

/// The one text form of an instant in SQLite: fixed width, so text order is time order.
pub(super) fn ts(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// An instant bound the way its backend stores it: `timestamptz` in PostgreSQL, [`ts`]'s text
/// in SQLite (sqlx's own SQLite text for a time is not fixed width, so it would not sort).
#[derive(Debug, Clone, Copy)]
pub(super) struct At(pub DateTime<Utc>);

impl Type<Sqlite> for At {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl Encode<'_, Sqlite> for At {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(ts(self.0), buf)
    }
}

impl Type<Postgres> for At {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for At {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode_by_ref(&self.0, buf)
    }
}

/// A list of texts bound as one parameter, the way its backend reads a list: a `text[]` in
/// PostgreSQL (`= any($1)`), a JSON array in SQLite (`in (select value from json_each(?1))`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Texts<'a>(pub &'a [String]);

impl Type<Sqlite> for Texts<'_> {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl Encode<'_, Sqlite> for Texts<'_> {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(serde_json::to_string(self.0)?, buf)
    }
}

impl Type<Postgres> for Texts<'_> {
    fn type_info() -> PgTypeInfo {
        <Vec<String> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Texts<'_> {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode_by_ref(&self.0, buf)
    }
}

/// `DB` binds values of type `T`: sqlx's `Encode` and `Type` bounds, stated on the database.
pub(super) trait Binds<T>: Database {
    /// `query` with `value` bound as its next parameter.
    fn bind_next(query: Query<'_, Self>, value: T) -> Query<'_, Self>;
}

// `'e` is any one lifetime sqlx encodes `T` for: `for<'e>` would ask `Option<&str>` to outlive
// every lifetime, which only `'static` does.
impl<'e, DB: Database, T> Binds<T> for DB
where
    T: Encode<'e, DB> + Type<DB>,
{
    fn bind_next(query: Query<'_, Self>, value: T) -> Query<'_, Self> {
        query.bind(value)
    }
}

/// How many rows a statement changed, which sqlx reports on each backend's own type.
pub(super) trait RowsAffected {
    /// The count.
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        SqliteQueryResult::rows_affected(self)
    }
}

impl RowsAffected for PgQueryResult {
    fn rows_affected(&self) -> u64 {
        PgQueryResult::rows_affected(self)
    }
}

/// `DB` runs statements on one of its connections.
pub(super) trait Runs: Database {
    /// Runs `query`; how many rows it changed.
    fn execute(
        query: Query<'_, Self>,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<u64>> + Send;
}

impl<DB: Database> Runs for DB
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    DB::QueryResult: RowsAffected,
{
    async fn execute(query: Query<'_, Self>, conn: &mut Self::Connection) -> Result<u64> {
        Ok(query.execute(conn).await?.rows_affected())
    }
}

/// `DB` reads its rows as `T` (a `FromRow` type: a record or a tuple).
pub(super) trait Reads<T>: Runs {
    /// Every row.
    fn fetch_all(
        query: Query<'_, Self>,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Vec<T>>> + Send;
    /// The first row, if any.
    fn fetch_optional(
        query: Query<'_, Self>,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Option<T>>> + Send;
}

impl<DB: Runs, T> Reads<T> for DB
where
    T: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    async fn fetch_all(query: Query<'_, Self>, conn: &mut Self::Connection) -> Result<Vec<T>> {
        Ok(query
            .try_map(|row: DB::Row| T::from_row(&row))
            .fetch_all(conn)
            .await?)
    }

    async fn fetch_optional(
        query: Query<'_, Self>,
        conn: &mut Self::Connection,
    ) -> Result<Option<T>> {
        Ok(query
            .try_map(|row: DB::Row| T::from_row(&row))
            .fetch_optional(conn)
            .await?)
    }
}

/// A database the shared flows run on: it binds every value type they pass and reads every row
/// they read.
pub(super) trait Db:
    Runs
    + Binds<i64>
    + Binds<i32>
    + Binds<bool>
    + Binds<At>
    + Binds<Option<At>>
    + Binds<Option<i64>>
    + Binds<Option<i32>>
    + Binds<String>
    + for<'a> Binds<&'a str>
    + for<'a> Binds<Option<&'a str>>
    + for<'a> Binds<Texts<'a>>
    + Reads<Lease>
    + Reads<RunRecord>
    + Reads<FindingRecord>
    + Reads<DeliveryRow>
    + Reads<JobTotals>
    + Reads<FailureStreak>
    + Reads<WindowSpan>
    + Reads<CoverageGap>
    + Reads<InstanceUsage>
    + Reads<(i64, i32, String)>
    + Reads<(String, i64)>
    + Reads<(String, Option<String>)>
    + Reads<(DateTime<Utc>, DateTime<Utc>)>
    + Reads<(String,)>
    + Reads<(i64,)>
    + Reads<(bool,)>
    + Reads<(Option<DateTime<Utc>>,)>
{
}

impl Db for Sqlite {}

impl Db for Postgres {}

/// Binding and running written as method calls on a statement, like sqlx's own for one
/// backend; `run`, `all` and `optional` differ in name from sqlx's inherent methods, which
/// would be picked first.
pub(super) trait Statement<DB: Database>: Sized {
    /// Binds `value` as the next parameter.
    fn arg<T>(self, value: T) -> Self
    where
        DB: Binds<T>;

    /// Runs the statement; how many rows it changed.
    fn run(self, conn: &mut DB::Connection) -> impl Future<Output = Result<u64>> + Send
    where
        DB: Runs;

    /// Every row, as `T`.
    fn all<T>(self, conn: &mut DB::Connection) -> impl Future<Output = Result<Vec<T>>> + Send
    where
        DB: Reads<T>;

    /// The first row as `T`, if any.
    fn optional<T>(
        self,
        conn: &mut DB::Connection,
    ) -> impl Future<Output = Result<Option<T>>> + Send
    where
        DB: Reads<T>;

    /// The first row as `T`; sqlx's `RowNotFound` when there is none.
    fn one<T>(self, conn: &mut DB::Connection) -> impl Future<Output = Result<T>> + Send
    where
        DB: Reads<T>;
}

impl<DB: Database> Statement<DB> for Query<'_, DB> {
    fn arg<T>(self, value: T) -> Self
    where
        DB: Binds<T>,
    {
        DB::bind_next(self, value)
    }

    async fn run(self, conn: &mut DB::Connection) -> Result<u64>
    where
        DB: Runs,
    {
        DB::execute(self, conn).await
    }

    async fn all<T>(self, conn: &mut DB::Connection) -> Result<Vec<T>>
    where
        DB: Reads<T>,
    {
        DB::fetch_all(self, conn).await
    }

    async fn optional<T>(self, conn: &mut DB::Connection) -> Result<Option<T>>
    where
        DB: Reads<T>,
    {
        DB::fetch_optional(self, conn).await
    }

    async fn one<T>(self, conn: &mut DB::Connection) -> Result<T>
    where
        DB: Reads<T>,
    {
        DB::fetch_optional(self, conn)
            .await?
            .ok_or_else(|| sqlx::Error::RowNotFound.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_one_fixed_width_form() {
        let t = DateTime::parse_from_rfc3339("2024-05-01T08:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(ts(t), "2024-05-01T08:00:00.000000Z");
        assert_eq!(
            DateTime::parse_from_rfc3339(&ts(t))
                .map(|p| p.with_timezone(&Utc))
                .ok(),
            Some(t)
        );
    }
}
