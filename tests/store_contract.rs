//! The store contract: every test runs against SQLite (a temp file) and PostgreSQL (a fresh
//! database per test, from `HUNTD_TEST_POSTGRES_URL`).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::value::RawValue;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgPool, SqlitePool};

use huntd::store::{
    self, Backend, Claim, ClaimRequest, Column, Error, GapRecord, HistoryFilter, JobRecord, Lease,
    PruneOptions, RunFailure, RunStatus, RunSuccess, Store,
};

type Body = fn(Ctx) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// A store under test plus a raw pool for checking what it wrote.
struct Ctx {
    url: String,
    store: Arc<dyn Store>,
    raw: Raw,
}

enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Raw {
    async fn exec(&self, sql: &str) {
        let sql = AssertSqlSafe(sql.to_string());
        match self {
            Raw::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()),
            Raw::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()),
        }
        .expect("statement runs");
    }
}

impl Ctx {
    fn backend(&self) -> Backend {
        self.store.backend()
    }

    async fn exec(&self, sql: &str) {
        self.raw.exec(sql).await;
    }

    /// A second, empty database next to the one under test.
    async fn fresh_database(&self) -> String {
        match self.backend() {
            Backend::Sqlite => format!("{}-fresh.db", self.url.trim_end_matches(".db")),
            Backend::Postgres => {
                let name = format!("{}_fresh", database_name(&self.url));
                self.exec(&format!("create database {name}")).await;
                replace_database(&self.url, &name)
            }
        }
    }

    /// Drops what [`Ctx::fresh_database`] made (a SQLite file goes with the temp dir).
    async fn drop_fresh_database(&self, url: &str) {
        if self.backend() == Backend::Postgres {
            let name = database_name(url);
            self.exec(&format!("drop database {name} with (force)"))
                .await;
        }
    }

    async fn int(&self, sql: &str) -> i64 {
        let sql = AssertSqlSafe(sql.to_string());
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Raw::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        }
        .expect("integer query")
    }

    async fn texts(&self, sql: &str) -> Vec<Option<String>> {
        let sql = AssertSqlSafe(sql.to_string());
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
            Raw::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
        }
        .expect("text query")
    }

    /// Runs a query and returns how many rows it produced.
    async fn run(&self, sql: &str) -> Result<usize, sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_string());
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query(sql).fetch_all(pool).await.map(|r| r.len()),
            Raw::Postgres(pool) => sqlx::query(sql).fetch_all(pool).await.map(|r| r.len()),
        }
    }

    async fn job(&self, name: &str, dedup: Option<&[&str]>) {
        self.store
            .upsert_job(&job_record(name, dedup, "q1"))
            .await
            .expect("upsert job");
    }

    async fn claim(&self, job: &str, slot: DateTime<Utc>, span: TimeDelta, node: &str) -> Lease {
        match self.store.claim_slot(&claim(job, slot, span, node)).await {
            Ok(Claim::Won(lease)) => lease,
            other => panic!("expected to win {job} at {slot}: {other:?}"),
        }
    }

    async fn succeed(&self, lease: &Lease, columns: &[Column], rows: &[Box<RawValue>]) -> i64 {
        self.store
            .finish_run(lease, &success(lease.window_end, columns, rows))
            .await
            .expect("finish run")
            .new_row_count
    }
}

fn job_record(name: &str, dedup: Option<&[&str]>, query: &str) -> JobRecord {
    JobRecord {
        name: name.to_string(),
        instance: "prod".to_string(),
        definition: serde_json::json!({"name": name, "query": query}),
        query_sha256: query.to_string(),
        enabled: true,
        dedup_columns: dedup.map(|d| d.iter().map(ToString::to_string).collect()),
        retention: Duration::from_secs(90 * 86_400),
    }
}

fn claim(job: &str, slot: DateTime<Utc>, span: TimeDelta, node: &str) -> ClaimRequest {
    ClaimRequest {
        job: job.to_string(),
        instance: "prod".to_string(),
        slot_at: slot,
        window_start: slot - span,
        window_end: slot,
        node: node.to_string(),
        lease_until: slot + TimeDelta::minutes(5),
        now: slot,
        query_sha256: "q1".to_string(),
    }
}

fn success<'a>(
    finished_at: DateTime<Utc>,
    columns: &'a [Column],
    rows: &'a [Box<RawValue>],
) -> RunSuccess<'a> {
    RunSuccess {
        finished_at: finished_at + TimeDelta::seconds(2),
        columns,
        rows,
        truncated: false,
        api: "graph",
        http_status: Some(200),
        client_request_id: Some("00000000-0000-0000-0000-000000000001"),
    }
}

/// A run ended without results (`failed`, `skipped`, ...) at `finished_at`.
fn ended(
    status: RunStatus,
    class: &'static str,
    message: &'static str,
    finished_at: DateTime<Utc>,
) -> RunFailure<'static> {
    RunFailure {
        finished_at,
        status,
        error_class: class,
        error_message: message,
        api: None,
        http_status: None,
        client_request_id: None,
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("valid time")
        .with_timezone(&Utc)
}

fn cols(spec: &[(&str, &str)]) -> Vec<Column> {
    spec.iter()
        .map(|(name, type_name)| Column {
            name: (*name).to_string(),
            type_name: (*type_name).to_string(),
        })
        .collect()
}

fn rows(texts: &[String]) -> Vec<Box<RawValue>> {
    texts
        .iter()
        .map(|t| RawValue::from_string(t.clone()).expect("valid JSON row"))
        .collect()
}

fn device_rows(devices: &[&str]) -> Vec<Box<RawValue>> {
    let texts: Vec<String> = devices
        .iter()
        .map(|d| format!(r#"{{"DeviceName":"{d}","ProcessCommandLine":"powershell -enc {d}"}}"#))
        .collect();
    rows(&texts)
}

fn device_cols() -> Vec<Column> {
    cols(&[("DeviceName", "String"), ("ProcessCommandLine", "String")])
}

async fn with_sqlite(body: Body) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("huntd.db").display());
    let store = store::open(&url).await.expect("open sqlite store");
    let raw = SqlitePool::connect(&url).await.expect("raw sqlite pool");
    body(Ctx {
        url,
        store,
        raw: Raw::Sqlite(raw),
    })
    .await;
}

/// Creates a fresh database, runs the body, and drops the database even when the body panics.
async fn with_postgres(body: Body) {
    let Ok(base) = std::env::var("HUNTD_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("HUNTD_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "HUNTD_REQUIRE_POSTGRES=1 but HUNTD_TEST_POSTGRES_URL is unset"
        );
        eprintln!("notice: HUNTD_TEST_POSTGRES_URL is unset; skipping the PostgreSQL test");
        return;
    };
    let name = format!("huntd_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&base)
        .await
        .expect("connect to HUNTD_TEST_POSTGRES_URL");
    sqlx::raw_sql(AssertSqlSafe(format!("create database {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let task_url = replace_database(&base, &name);
    let outcome = tokio::spawn(async move {
        let store = store::open(&task_url).await.expect("open postgres store");
        let raw = PgPool::connect(&task_url).await.expect("raw postgres pool");
        body(Ctx {
            url: task_url,
            store,
            raw: Raw::Postgres(raw.clone()),
        })
        .await;
        raw.close().await;
    })
    .await;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "drop database if exists {name} with (force)"
    )))
    .execute(&mut admin)
    .await
    .expect("drop test database");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::with_sqlite(|ctx| Box::pin(super::$name(ctx))).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::with_postgres(|ctx| Box::pin(super::$name(ctx))).await;
                }
            )*
        }
    };
}

contract!(
    a_slot_is_won_by_exactly_one_of_many_concurrent_claimers,
    an_expired_lease_is_taken_over_with_a_higher_attempt,
    a_stale_attempt_writes_nothing,
    a_failed_write_leaves_no_rows_and_the_run_running,
    overlapping_runs_never_count_a_finding_as_new_twice,
    dedup_columns_merge_rows_into_one_finding,
    large_runs_keep_row_order_and_dedup_across_write_batches,
    the_typed_view_has_one_typed_column_per_result_column,
    the_view_is_recreated_when_the_schema_changes,
    coverage_gaps_show_uncovered_and_skipped_spans,
    skipped_runs_and_recorded_gaps_are_each_listed_once_as_coverage_gaps,
    a_failure_after_a_skip_resumes_after_the_skipped_span,
    prune_deletes_old_data_in_batches_and_keeps_recent_data,
    history_and_findings_filters_select_the_right_rows,
    json_values_come_back_exactly,
    interrupted_runs_can_be_claimed_again,
    concurrent_migrations_against_one_fresh_database_both_succeed,
    upgrading_keeps_every_finding_pointing_at_its_latest_row,
    reporting_queries_in_the_docs_run,
    unknown_jobs_are_reported_as_such,
    many_jobs_are_registered_at_once_and_view_clashes_are_left_out,
);

async fn a_slot_is_won_by_exactly_one_of_many_concurrent_claimers(ctx: Ctx) {
    ctx.job("j", None).await;
    // A second store has its own pool, like a second daemon.
    let other = store::open(&ctx.url).await.expect("second store");
    let slot = at("2024-05-01T09:00:00Z");
    let mut tasks = Vec::new();
    for i in 0..24 {
        let store = if i % 2 == 0 {
            Arc::clone(&ctx.store)
        } else {
            Arc::clone(&other)
        };
        tasks.push(tokio::spawn(async move {
            store
                .claim_slot(&claim("j", slot, TimeDelta::hours(1), &format!("node{i}")))
                .await
                .expect("claim")
        }));
    }
    let mut won = Vec::new();
    let mut lost_ids = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            Claim::Won(lease) => won.push(lease),
            Claim::Lost { run_id, status, .. } => {
                assert_eq!(status, RunStatus::Running);
                lost_ids.push(run_id);
            }
        }
    }
    assert_eq!(won.len(), 1, "exactly one winner: {won:?}");
    assert_eq!(lost_ids.len(), 23);
    assert!(lost_ids.iter().all(|id| *id == won[0].run_id));
    assert_eq!(won[0].attempt, 1);
    assert_eq!(ctx.int("select count(*) from hunt_runs").await, 1);
    other.close().await;
}

async fn an_expired_lease_is_taken_over_with_a_higher_attempt(ctx: Ctx) {
    ctx.job("j", None).await;
    let slot = at("2024-05-01T09:00:00Z");
    let first = ctx.claim("j", slot, TimeDelta::hours(1), "a").await;
    let until = slot + TimeDelta::minutes(20);
    let early = ctx
        .store
        .take_over_expired("b", until, slot + TimeDelta::minutes(1))
        .await
        .expect("take over");
    assert!(early.is_empty(), "a live lease is not taken over");
    let taken = ctx
        .store
        .take_over_expired("b", until, slot + TimeDelta::minutes(10))
        .await
        .expect("take over");
    assert_eq!(taken.len(), 1);
    let second = &taken[0];
    assert_eq!(second.run_id, first.run_id);
    assert_eq!(second.attempt, 2);
    assert_eq!(second.node, "b");
    assert_eq!(
        (second.window_start, second.window_end),
        (first.window_start, first.window_end)
    );
    assert!(!ctx.store.renew_lease(&first, until).await.expect("renew"));
    assert!(ctx.store.renew_lease(second, until).await.expect("renew"));
    let again = ctx
        .store
        .take_over_expired("c", until, slot + TimeDelta::minutes(15))
        .await
        .expect("take over");
    assert!(again.is_empty(), "a renewed lease is not taken over");
}

async fn a_stale_attempt_writes_nothing(ctx: Ctx) {
    ctx.job("j", None).await;
    let slot = at("2024-05-01T09:00:00Z");
    let stale = ctx.claim("j", slot, TimeDelta::hours(1), "a").await;
    let fresh = ctx
        .store
        .take_over_expired(
            "b",
            slot + TimeDelta::hours(1),
            slot + TimeDelta::minutes(30),
        )
        .await
        .expect("take over")
        .pop()
        .expect("one run taken over");
    let columns = device_cols();
    let data = device_rows(&["pc1", "pc2"]);
    let err = ctx
        .store
        .finish_run(&stale, &success(slot, &columns, &data))
        .await
        .expect_err("the stale attempt must be fenced off");
    assert!(matches!(err, Error::LeaseLost { attempt: 1, .. }), "{err}");
    let failure = RunFailure {
        finished_at: slot,
        status: RunStatus::Failed,
        error_class: "timeout",
        error_message: "too slow",
        api: None,
        http_status: None,
        client_request_id: None,
    };
    assert!(matches!(
        ctx.store.fail_run(&stale, &failure).await,
        Err(Error::LeaseLost { .. })
    ));
    assert_eq!(ctx.int("select count(*) from hunt_results").await, 0);
    assert_eq!(ctx.int("select count(*) from hunt_findings").await, 0);
    assert_eq!(
        ctx.texts("select status from hunt_runs").await,
        [Some("running".to_string())]
    );
    assert_eq!(ctx.succeed(&fresh, &columns, &data).await, 2);
    let err = ctx
        .store
        .finish_run(&fresh, &success(slot, &columns, &data))
        .await
        .expect_err("a finished run cannot be finished twice");
    assert!(matches!(err, Error::LeaseLost { attempt: 2, .. }), "{err}");
    assert_eq!(ctx.int("select count(*) from hunt_results").await, 2);
}

async fn a_failed_write_leaves_no_rows_and_the_run_running(ctx: Ctx) {
    ctx.job("j", None).await;
    // The findings upsert comes after every results batch: failing it proves the batches roll
    // back with it.
    match ctx.backend() {
        Backend::Sqlite => {
            ctx.exec(
                r"create trigger boom before insert on hunt_finding_state
                  begin select raise(abort, 'boom'); end",
            )
            .await;
        }
        Backend::Postgres => {
            ctx.exec(
                r"create function boom() returns trigger language plpgsql as
                  $$ begin raise exception 'boom'; end $$;
                  create trigger boom before insert on hunt_finding_state
                  for each row execute function boom();",
            )
            .await;
        }
    }
    let slot = at("2024-05-01T09:00:00Z");
    let lease = ctx.claim("j", slot, TimeDelta::hours(1), "a").await;
    let names: Vec<String> = (0..25_000).map(|i| format!("pc{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let data = device_rows(&names);
    let columns = device_cols();
    let err = ctx
        .store
        .finish_run(&lease, &success(slot, &columns, &data))
        .await
        .expect_err("the trigger fails the write");
    assert!(err.to_string().contains("boom"), "{err}");
    assert_eq!(ctx.int("select count(*) from hunt_results").await, 0);
    assert_eq!(ctx.int("select count(*) from hunt_findings").await, 0);
    assert_eq!(ctx.int("select count(*) from hunt_columns").await, 0);
    assert_eq!(
        ctx.texts("select status from hunt_runs").await,
        [Some("running".to_string())]
    );
    assert!(
        ctx.run("select * from hunt_j").await.is_err(),
        "no view yet"
    );
    match ctx.backend() {
        Backend::Sqlite => ctx.exec("drop trigger boom").await,
        Backend::Postgres => ctx.exec("drop trigger boom on hunt_finding_state").await,
    }
    assert_eq!(ctx.succeed(&lease, &columns, &data).await, 25_000);
    assert_eq!(ctx.int("select count(*) from hunt_results").await, 25_000);
}

async fn large_runs_keep_row_order_and_dedup_across_write_batches(ctx: Ctx) {
    // 20,000 rows span several write batches on both backends, and each device's rows sit in
    // different batches: its finding must keep the last of them and count once.
    ctx.job("j", Some(&["DeviceName"])).await;
    let columns = cols(&[("DeviceName", "String"), ("Seq", "Int64")]);
    let devices_rows = |devices: usize, total: usize| {
        let texts: Vec<String> = (0..total)
            .map(|i| format!(r#"{{"DeviceName":"pc{}","Seq":{i}}}"#, i % devices))
            .collect();
        rows(&texts)
    };
    let t = at("2024-05-01T09:00:00Z");
    let lease = ctx.claim("j", t, TimeDelta::hours(1), "a").await;
    let data = devices_rows(7_000, 20_000);
    assert_eq!(ctx.succeed(&lease, &columns, &data).await, 7_000);
    assert_eq!(
        ctx.int("select count(*) from hunt_j where seq = row_num")
            .await,
        20_000
    );
    assert_eq!(
        ctx.int(
            r"select count(*) from hunt_results a
              join hunt_results b on b.run_id = a.run_id and b.row_num = a.row_num + 7000
              where a.row_hash = b.row_hash"
        )
        .await,
        13_000
    );
    let kept_last = match ctx.backend() {
        Backend::Sqlite => {
            r"select count(*) from hunt_findings
              where cast(json_extract(data, '$.Seq') as integer) >= 13000"
        }
        Backend::Postgres => {
            r"select count(*) from hunt_findings where (data ->> 'Seq')::bigint >= 13000"
        }
    };
    assert_eq!(ctx.int(kept_last).await, 7_000);

    let lease = ctx
        .claim("j", t + TimeDelta::hours(1), TimeDelta::hours(1), "a")
        .await;
    let data = devices_rows(8_000, 16_000);
    assert_eq!(ctx.succeed(&lease, &columns, &data).await, 1_000);
    assert_eq!(ctx.int("select count(*) from hunt_findings").await, 8_000);
    assert_eq!(
        ctx.int("select count(*) from hunt_findings where times_seen = 2")
            .await,
        7_000
    );
}

async fn overlapping_runs_never_count_a_finding_as_new_twice(ctx: Ctx) {
    ctx.job("j", None).await;
    let columns = device_cols();
    let t = at("2024-05-01T09:00:00Z");
    let first = ctx.claim("j", t, TimeDelta::hours(2), "a").await;
    assert_eq!(
        ctx.succeed(&first, &columns, &device_rows(&["a", "b", "c"]))
            .await,
        3
    );
    // Overlapping window, with a row repeated inside the run.
    let second = ctx
        .claim("j", t + TimeDelta::hours(1), TimeDelta::hours(2), "a")
        .await;
    assert_eq!(
        ctx.succeed(&second, &columns, &device_rows(&["b", "c", "d", "d"]))
            .await,
        1
    );
    // A re-run of the same window in another slot finds nothing new.
    let third = ctx
        .claim("j", t + TimeDelta::hours(2), TimeDelta::hours(3), "a")
        .await;
    assert_eq!(
        ctx.succeed(&third, &columns, &device_rows(&["a", "b", "c", "d"]))
            .await,
        0
    );
    let findings = ctx.store.findings("j", None).await.expect("findings");
    assert_eq!(findings.len(), 4);
    let seen: Vec<(String, i64, i64, i64)> = {
        let mut v: Vec<_> = findings
            .iter()
            .map(|f| {
                let data: serde_json::Value = serde_json::from_str(&f.data).expect("json");
                (
                    data["DeviceName"].as_str().expect("name").to_string(),
                    f.times_seen,
                    f.first_run_id,
                    f.last_run_id,
                )
            })
            .collect();
        v.sort();
        v
    };
    let (r1, r2, r3) = (first.run_id, second.run_id, third.run_id);
    assert_eq!(
        seen,
        [
            ("a".to_string(), 2, r1, r3),
            ("b".to_string(), 3, r1, r3),
            ("c".to_string(), 3, r1, r3),
            ("d".to_string(), 2, r2, r3),
        ]
    );
    let b = findings
        .iter()
        .find(|f| f.data.contains("\"b\""))
        .expect("b");
    assert_eq!(b.first_seen_at, t + TimeDelta::seconds(2));
    assert_eq!(
        b.last_seen_at,
        t + TimeDelta::hours(2) + TimeDelta::seconds(2)
    );
    let news = ctx
        .texts("select cast(new_row_count as text) from hunt_runs order by id")
        .await;
    assert_eq!(news, [Some("3".into()), Some("1".into()), Some("0".into())]);
}

async fn dedup_columns_merge_rows_into_one_finding(ctx: Ctx) {
    ctx.job("j", Some(&["DeviceName"])).await;
    let columns = cols(&[("Timestamp", "DateTime"), ("DeviceName", "String")]);
    let t = at("2024-05-01T09:00:00Z");
    let lease = ctx.claim("j", t, TimeDelta::hours(1), "a").await;
    let data = rows(&[
        r#"{"Timestamp":"2024-05-01T08:10:00Z","DeviceName":"pc1"}"#.to_string(),
        r#"{"Timestamp":"2024-05-01T08:20:00Z","DeviceName":"pc1"}"#.to_string(),
        r#"{"Timestamp":"2024-05-01T08:30:00Z","DeviceName":"pc2"}"#.to_string(),
    ]);
    assert_eq!(ctx.succeed(&lease, &columns, &data).await, 2);
    let findings = ctx.store.findings("j", None).await.expect("findings");
    assert_eq!(findings.len(), 2);
    let pc1 = findings
        .iter()
        .find(|f| f.data.contains("pc1"))
        .expect("pc1");
    assert!(
        pc1.data.contains("08:20:00"),
        "keeps the latest row: {}",
        pc1.data
    );
    assert_eq!(pc1.times_seen, 1);
    assert_eq!(ctx.int("select count(*) from hunt_results").await, 3);
}

async fn the_typed_view_has_one_typed_column_per_result_column(ctx: Ctx) {
    ctx.job("encoded-powershell", None).await;
    let columns = cols(&[
        ("Timestamp", "DateTime"),
        ("DeviceName", "String"),
        ("DeviceId", "Guid"),
        ("Count", "Int64"),
        ("Small", "Int32"),
        ("Score", "Double"),
        ("IsAdmin", "Boolean"),
        ("Extra", "Dynamic"),
        ("Odd", "SomethingNew"),
    ]);
    let t = at("2024-05-01T09:00:00Z");
    let lease = ctx
        .claim("encoded-powershell", t, TimeDelta::hours(1), "a")
        .await;
    let data = rows(&[
        r#"{"Timestamp":"2024-05-01T08:10:00.1234567Z","DeviceName":"pc1","DeviceId":"5f1c7d3e-0000-4000-8000-000000000001","Count":9223372036854775807,"Small":7,"Score":0.5,"IsAdmin":true,"Extra":{"b":[1,2],"a":"x"},"Odd":"?"}"#.to_string(),
        r#"{"Timestamp":"2024-05-01T08:20:00Z","DeviceName":"pc1","DeviceId":"5f1c7d3e-0000-4000-8000-000000000002","Count":-1,"Small":8,"Score":1.25,"IsAdmin":false,"Extra":null,"Odd":"!"}"#.to_string(),
        r#"{"Timestamp":"2024-05-01T08:30:00Z","DeviceName":"pc2","DeviceId":"5f1c7d3e-0000-4000-8000-000000000003","Count":3,"Small":9,"Score":2,"IsAdmin":false,"Extra":[1],"Odd":"."}"#.to_string(),
    ]);
    ctx.succeed(&lease, &columns, &data).await;
    // The analyst's query from the issue, unquoted.
    assert_eq!(
        ctx.run("select DeviceName, count(*) from hunt_encoded_powershell group by 1")
            .await
            .expect("analyst query"),
        2
    );
    assert_eq!(
        ctx.int("select Count from hunt_encoded_powershell where row_num = 0")
            .await,
        i64::MAX
    );
    assert_eq!(
        ctx.int("select count(*) from hunt_encoded_powershell where IsAdmin")
            .await,
        1
    );
    assert_eq!(
        ctx.int(&format!(
            "select count(*) from hunt_encoded_powershell where run_id = {} and Score > 1.0",
            lease.run_id
        ))
        .await,
        2
    );
    match ctx.backend() {
        Backend::Postgres => {
            let types = ctx
                .texts(
                    r"select column_name || ' ' || data_type from information_schema.columns
                      where table_name = 'hunt_encoded_powershell' order by ordinal_position",
                )
                .await;
            let types: Vec<String> = types.into_iter().flatten().collect();
            assert_eq!(
                types,
                [
                    "run_id bigint",
                    "slot_at timestamp with time zone",
                    "window_start timestamp with time zone",
                    "window_end timestamp with time zone",
                    "row_num bigint",
                    "timestamp timestamp with time zone",
                    "devicename text",
                    "deviceid text",
                    "count bigint",
                    "small bigint",
                    "score double precision",
                    "isadmin boolean",
                    "extra jsonb",
                    "odd text",
                ]
            );
            assert_eq!(
                ctx.texts("select extra ->> 'a' from hunt_encoded_powershell where row_num = 0")
                    .await,
                [Some("x".to_string())]
            );
            assert_eq!(
                ctx.int(
                    r"select count(*) from hunt_encoded_powershell
                      where timestamp < '2024-05-01T08:15:00Z'"
                )
                .await,
                1
            );
        }
        Backend::Sqlite => {
            let types = ctx
                .texts(
                    r"select typeof(Timestamp) || ' ' || typeof(DeviceName) || ' ' ||
                          typeof(Count) || ' ' || typeof(Small) || ' ' || typeof(Score) || ' ' ||
                          typeof(IsAdmin) || ' ' || typeof(Extra) || ' ' || typeof(Odd)
                      from hunt_encoded_powershell where row_num = 0",
                )
                .await;
            assert_eq!(
                types,
                [Some(
                    "text text integer integer real integer text text".to_string()
                )]
            );
            assert_eq!(
                ctx.texts("select Timestamp from hunt_encoded_powershell where row_num = 0")
                    .await,
                [Some("2024-05-01T08:10:00.1234567Z".to_string())]
            );
            assert_eq!(
                ctx.texts("select Extra ->> 'a' from hunt_encoded_powershell where row_num = 0")
                    .await,
                [Some("x".to_string())]
            );
        }
    }
}

async fn the_view_is_recreated_when_the_schema_changes(ctx: Ctx) {
    ctx.job("j", None).await;
    let t = at("2024-05-01T09:00:00Z");
    let first = ctx.claim("j", t, TimeDelta::hours(1), "a").await;
    ctx.succeed(
        &first,
        &cols(&[("A", "String"), ("B", "Int64")]),
        &rows(&[r#"{"A":"x","B":1}"#.to_string()]),
    )
    .await;
    assert_eq!(ctx.int("select B from hunt_j").await, 1);
    ctx.store
        .upsert_job(&job_record("j", None, "q2"))
        .await
        .expect("upsert");
    let mut request = claim("j", t + TimeDelta::hours(1), TimeDelta::hours(1), "a");
    request.query_sha256 = "q2".to_string();
    let Claim::Won(second) = ctx.store.claim_slot(&request).await.expect("claim") else {
        panic!("claim lost");
    };
    ctx.succeed(
        &second,
        &cols(&[("A", "String"), ("C", "Double")]),
        &rows(&[r#"{"A":"y","C":2.5}"#.to_string()]),
    )
    .await;
    assert!(ctx.run("select B from hunt_j").await.is_err(), "B is gone");
    assert_eq!(
        ctx.texts("select A from hunt_j").await,
        [Some("y".to_string())],
        "the view shows the current query's results"
    );
    assert_eq!(
        ctx.int("select count(*) from hunt_j where C = 2.5").await,
        1
    );
    assert_eq!(
        ctx.texts(
            "select query_sha256 || ':' || name from hunt_columns order by query_sha256, position"
        )
        .await,
        [
            Some("q1:A".to_string()),
            Some("q1:B".to_string()),
            Some("q2:A".to_string()),
            Some("q2:C".to_string())
        ]
    );
}

async fn coverage_gaps_show_uncovered_and_skipped_spans(ctx: Ctx) {
    ctx.job("j", None).await;
    let t0 = at("2024-05-01T00:00:00Z");
    let h = TimeDelta::hours;
    let failure = |finished_at| RunFailure {
        finished_at,
        status: RunStatus::Failed,
        error_class: "throttled",
        error_message: "429",
        api: Some("graph"),
        http_status: Some(429),
        client_request_id: None,
    };
    let columns = device_cols();
    let none = device_rows(&[]);
    // [0,1) ok, [1,2) failed, [2,3) ok, [2.5,4) ok (overlaps), [4,5) failed.
    let run = ctx.claim("j", t0 + h(1), h(1), "a").await;
    ctx.succeed(&run, &columns, &none).await;
    let run = ctx.claim("j", t0 + h(2), h(1), "a").await;
    ctx.store
        .fail_run(&run, &failure(t0 + h(2)))
        .await
        .expect("fail");
    let run = ctx.claim("j", t0 + h(3), h(1), "a").await;
    ctx.succeed(&run, &columns, &none).await;
    let mut request = claim("j", t0 + h(4), h(1), "a");
    request.window_start = t0 + h(2) + TimeDelta::minutes(30);
    let Claim::Won(run) = ctx.store.claim_slot(&request).await.expect("claim") else {
        panic!("lost")
    };
    ctx.succeed(&run, &columns, &none).await;
    let run = ctx.claim("j", t0 + h(5), h(1), "a").await;
    ctx.store
        .fail_run(&run, &failure(t0 + h(5)))
        .await
        .expect("fail");
    // Still running: not a gap yet.
    ctx.claim("j", t0 + h(6), h(1), "a").await;
    ctx.store
        .record_gap(&GapRecord {
            job: "j".to_string(),
            gap_start: t0 + h(10),
            gap_end: t0 + h(11),
            reason: "catch_up: skip".to_string(),
            recorded_at: t0 + h(11),
        })
        .await
        .expect("gap");
    let gaps = ctx
        .texts(
            r"select gap_start || ' ' || gap_end || ' ' || reason from (
                  select cast(gap_start as text) as gap_start, cast(gap_end as text) as gap_end,
                      reason
                  from hunt_coverage_gaps where job = 'j') g
              order by gap_start",
        )
        .await;
    let gaps: Vec<String> = gaps.into_iter().flatten().collect();
    let show = |t: DateTime<Utc>| match ctx.backend() {
        Backend::Sqlite => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        Backend::Postgres => t.format("%Y-%m-%d %H:%M:%S+00").to_string(),
    };
    assert_eq!(
        gaps,
        [
            format!("{} {} no succeeded run", show(t0 + h(1)), show(t0 + h(2))),
            format!("{} {} no succeeded run", show(t0 + h(4)), show(t0 + h(5))),
            format!("{} {} catch_up: skip", show(t0 + h(10)), show(t0 + h(11))),
        ]
    );
    assert_eq!(
        ctx.store.high_water_mark("j").await.expect("hwm"),
        Some(t0 + h(4))
    );
    assert_eq!(ctx.store.high_water_mark("other").await.expect("hwm"), None);
}

async fn skipped_runs_and_recorded_gaps_are_each_listed_once_as_coverage_gaps(ctx: Ctx) {
    ctx.job("j", None).await;
    let t0 = at("2024-05-01T00:00:00Z");
    let h = TimeDelta::hours;
    let columns = device_cols();
    let none = device_rows(&[]);
    let ended = |status, class, message| ended(status, class, message, t0 + h(8));
    // [0,1) ok, [1,3) skipped, [3,4) ok, [4,5) recorded gap, [5,6) ok, [6,7) failed.
    let run = ctx.claim("j", t0 + h(1), h(1), "a").await;
    ctx.succeed(&run, &columns, &none).await;
    let skipped = ctx.claim("j", t0 + h(3), h(2), "a").await;
    ctx.store
        .fail_run(
            &skipped,
            &ended(RunStatus::Skipped, "skipped", "missed (catch_up: skip)"),
        )
        .await
        .expect("skip");
    let run = ctx.claim("j", t0 + h(4), h(1), "a").await;
    ctx.succeed(&run, &columns, &none).await;
    ctx.store
        .record_gap(&GapRecord {
            job: "j".to_string(),
            gap_start: t0 + h(4),
            gap_end: t0 + h(5),
            reason: "too old".to_string(),
            recorded_at: t0 + h(6),
        })
        .await
        .expect("gap");
    let run = ctx.claim("j", t0 + h(6), h(1), "a").await;
    ctx.succeed(&run, &columns, &none).await;
    let run = ctx.claim("j", t0 + h(7), h(1), "a").await;
    ctx.store
        .fail_run(&run, &ended(RunStatus::Failed, "transient", "500"))
        .await
        .expect("fail");
    let gaps: Vec<String> = ctx
        .texts(
            r"select gap_start || ' ' || gap_end || ' ' || reason from (
                  select cast(gap_start as text) as gap_start, cast(gap_end as text) as gap_end,
                      reason
                  from hunt_coverage_gaps where job = 'j') g
              order by gap_start",
        )
        .await
        .into_iter()
        .flatten()
        .collect();
    let show = |t: DateTime<Utc>| match ctx.backend() {
        Backend::Sqlite => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        Backend::Postgres => t.format("%Y-%m-%d %H:%M:%S+00").to_string(),
    };
    assert_eq!(
        gaps,
        [
            format!(
                "{} {} missed (catch_up: skip)",
                show(t0 + h(1)),
                show(t0 + h(3))
            ),
            format!("{} {} too old", show(t0 + h(4)), show(t0 + h(5))),
            format!("{} {} no succeeded run", show(t0 + h(6)), show(t0 + h(7))),
        ]
    );
    let history = ctx
        .store
        .history(&HistoryFilter {
            status: Some(RunStatus::Skipped),
            ..HistoryFilter::default()
        })
        .await
        .expect("history");
    assert_eq!(history.len(), 1, "{history:#?}");
    assert_eq!(history[0].id, skipped.run_id);
    assert_eq!(history[0].error_class.as_deref(), Some("skipped"));
    assert_eq!(
        ctx.store.high_water_mark("j").await.expect("hwm"),
        Some(t0 + h(6)),
        "the latest succeeded window ends there; the failed one after it does not count"
    );
}

async fn a_failure_after_a_skip_resumes_after_the_skipped_span(ctx: Ctx) {
    ctx.job("j", None).await;
    let t0 = at("2024-05-01T00:00:00Z");
    let h = TimeDelta::hours;
    let ok = ctx.claim("j", t0 + h(1), h(1), "a").await;
    ctx.succeed(&ok, &device_cols(), &device_rows(&[])).await;
    // [1,3) skipped on purpose, then [3,4) failed.
    let skipped = ctx.claim("j", t0 + h(3), h(2), "a").await;
    ctx.store
        .fail_run(
            &skipped,
            &ended(
                RunStatus::Skipped,
                "skipped",
                "missed (catch_up: skip)",
                t0 + h(4),
            ),
        )
        .await
        .expect("skip");
    let failed = ctx.claim("j", t0 + h(4), h(1), "a").await;
    ctx.store
        .fail_run(
            &failed,
            &ended(RunStatus::Failed, "throttled", "429", t0 + h(4)),
        )
        .await
        .expect("fail");
    assert_eq!(
        ctx.store.high_water_mark("j").await.expect("hwm"),
        Some(t0 + h(3)),
        "the next window starts after the skipped span, at the failed one"
    );
}

async fn prune_deletes_old_data_in_batches_and_keeps_recent_data(ctx: Ctx) {
    let mut job = job_record("j", None, "q1");
    job.retention = Duration::from_secs(86_400);
    ctx.store.upsert_job(&job).await.expect("upsert");
    let columns = device_cols();
    let now = at("2024-05-10T00:00:00Z");
    let old = ctx
        .claim("j", now - TimeDelta::days(3), TimeDelta::hours(1), "a")
        .await;
    let old_names: Vec<String> = (0..25).map(|i| format!("old{i}")).collect();
    let old_names: Vec<&str> = old_names.iter().map(String::as_str).collect();
    ctx.succeed(&old, &columns, &device_rows(&old_names)).await;
    // `old0` is seen again recently, so its finding stays.
    let recent = ctx
        .claim("j", now - TimeDelta::hours(2), TimeDelta::hours(1), "a")
        .await;
    ctx.succeed(&recent, &columns, &device_rows(&["old0", "new1", "new2"]))
        .await;
    ctx.store
        .record_gap(&GapRecord {
            job: "j".to_string(),
            gap_start: now - TimeDelta::days(5),
            gap_end: now - TimeDelta::days(4),
            reason: "down".to_string(),
            recorded_at: now - TimeDelta::days(4),
        })
        .await
        .expect("gap");
    let report = ctx
        .store
        .prune(&PruneOptions {
            now,
            batch_size: 10,
        })
        .await
        .expect("prune");
    assert_eq!(report.results, 25);
    assert_eq!(report.runs, 1);
    assert_eq!(report.findings, 24);
    assert_eq!(report.gaps, 1);
    // Batches of 10: findings 10+10+4, results 10+10+5, runs 1, gaps 1.
    assert_eq!(report.batches, 8, "{report:?}");
    assert_eq!(ctx.int("select count(*) from hunt_results").await, 3);
    assert_eq!(ctx.int("select count(*) from hunt_runs").await, 1);
    assert_eq!(ctx.int("select count(*) from hunt_findings").await, 3);
    assert_eq!(
        ctx.int("select count(*) from hunt_findings where data is null")
            .await,
        0,
        "every finding left still points at a result row"
    );
    let again = ctx
        .store
        .prune(&PruneOptions {
            now,
            batch_size: 10,
        })
        .await
        .expect("prune");
    assert_eq!((again.results, again.runs, again.findings), (0, 0, 0));
}

async fn history_and_findings_filters_select_the_right_rows(ctx: Ctx) {
    ctx.job("j1", None).await;
    ctx.job("j2", None).await;
    let start = at("2024-05-01T00:00:00Z");
    let columns = device_cols();
    let run_a = ctx.claim("j1", start, TimeDelta::hours(1), "n").await;
    ctx.succeed(&run_a, &columns, &device_rows(&["x"])).await;
    let run_b = ctx
        .claim("j1", start + TimeDelta::hours(1), TimeDelta::hours(1), "n")
        .await;
    ctx.store
        .fail_run(
            &run_b,
            &RunFailure {
                finished_at: start + TimeDelta::hours(1),
                status: RunStatus::Failed,
                error_class: "bad_query",
                error_message: "A recognition error occurred.",
                api: Some("graph"),
                http_status: Some(400),
                client_request_id: None,
            },
        )
        .await
        .expect("fail");
    let run_c = ctx
        .claim("j2", start + TimeDelta::hours(2), TimeDelta::hours(1), "n")
        .await;
    ctx.succeed(&run_c, &columns, &device_rows(&["y"])).await;
    let run_d = ctx
        .claim("j1", start + TimeDelta::hours(3), TimeDelta::hours(1), "n")
        .await;
    ctx.succeed(&run_d, &columns, &device_rows(&["x", "z"]))
        .await;

    let ids = |runs: Vec<huntd::store::RunRecord>| runs.iter().map(|r| r.id).collect::<Vec<_>>();
    let all = ctx
        .store
        .history(&HistoryFilter::default())
        .await
        .expect("history");
    assert_eq!(
        ids(all.clone()),
        [run_d.run_id, run_c.run_id, run_b.run_id, run_a.run_id]
    );
    let failed = &all[2];
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.error_class.as_deref(), Some("bad_query"));
    assert_eq!(failed.http_status, Some(400));
    assert_eq!(failed.duration_ms, Some(0));
    assert_eq!(all[0].duration_ms, Some(2000));
    assert_eq!(all[0].row_count, Some(2));
    assert_eq!(all[0].new_row_count, Some(1));
    assert_eq!(all[0].truncated, Some(false));
    let filtered = |job: Option<&str>, status, since, limit| HistoryFilter {
        job: job.map(ToString::to_string),
        status,
        since,
        limit,
    };
    let runs_of = |f| {
        let store = Arc::clone(&ctx.store);
        async move { ids(store.history(&f).await.expect("history")) }
    };
    assert_eq!(
        runs_of(filtered(Some("j1"), None, None, None)).await,
        [run_d.run_id, run_b.run_id, run_a.run_id]
    );
    assert_eq!(
        runs_of(filtered(None, Some(RunStatus::Failed), None, None)).await,
        [run_b.run_id]
    );
    assert_eq!(
        runs_of(filtered(
            None,
            None,
            Some(start + TimeDelta::hours(2)),
            None
        ))
        .await,
        [run_d.run_id, run_c.run_id]
    );
    assert_eq!(
        runs_of(filtered(Some("j1"), None, None, Some(1))).await,
        [run_d.run_id]
    );

    let since = start + TimeDelta::hours(3);
    let new = ctx
        .store
        .findings("j1", Some(since))
        .await
        .expect("findings");
    assert_eq!(new.len(), 1);
    assert!(new[0].data.contains("\"z\""));
    assert_eq!(
        ctx.store
            .findings("j1", None)
            .await
            .expect("findings")
            .len(),
        2
    );
    assert_eq!(
        ctx.store
            .findings("j2", None)
            .await
            .expect("findings")
            .len(),
        1
    );
}

async fn json_values_come_back_exactly(ctx: Ctx) {
    ctx.job("j", None).await;
    let columns = cols(&[
        ("Big", "Int64"),
        ("Huge", "Dynamic"),
        ("Min", "Int64"),
        ("Fraction", "Double"),
        ("Timestamp", "DateTime"),
        ("Extra", "Dynamic"),
    ]);
    let row = r#"{"Big":18446744073709551615,"Huge":123456789012345678901234567890,"Min":-9223372036854775808,"Fraction":0.1000000000000000055511151231257827,"Timestamp":"2024-05-01T08:00:00.1234567Z","Extra":{"nested":[1.50,"ü\u00e9\"q",null,true],"id":9007199254740993}}"#;
    let t = at("2024-05-01T09:00:00Z");
    let lease = ctx.claim("j", t, TimeDelta::hours(1), "a").await;
    ctx.succeed(&lease, &columns, &rows(&[row.to_string()]))
        .await;
    let findings = ctx.store.findings("j", None).await.expect("findings");
    let stored: serde_json::Value = serde_json::from_str(&findings[0].data).expect("json");
    let sent: serde_json::Value = serde_json::from_str(row).expect("json");
    assert_eq!(stored, sent, "{}", findings[0].data);
    assert!(findings[0].data.contains("18446744073709551615"));
    assert!(findings[0].data.contains("123456789012345678901234567890"));
    assert!(
        findings[0]
            .data
            .contains("0.1000000000000000055511151231257827")
    );
    assert!(findings[0].data.contains("9007199254740993"));
    assert!(findings[0].data.contains("2024-05-01T08:00:00.1234567Z"));
    assert_eq!(
        ctx.int("select Min from hunt_j").await,
        i64::MIN,
        "the typed view keeps 64-bit integers"
    );
}

async fn interrupted_runs_can_be_claimed_again(ctx: Ctx) {
    ctx.job("j", None).await;
    let t = at("2024-05-01T09:00:00Z");
    let first = ctx.claim("j", t, TimeDelta::hours(1), "a").await;
    ctx.claim("j", t + TimeDelta::hours(1), TimeDelta::hours(1), "b")
        .await;
    assert_eq!(
        ctx.store.mark_interrupted("a", t).await.expect("interrupt"),
        1,
        "only node a's run"
    );
    let history = ctx
        .store
        .history(&HistoryFilter {
            status: Some(RunStatus::Interrupted),
            ..HistoryFilter::default()
        })
        .await
        .expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, first.run_id);
    let again = ctx.claim("j", t, TimeDelta::hours(1), "c").await;
    assert_eq!((again.run_id, again.attempt), (first.run_id, 2));
    assert!(matches!(
        ctx.store
            .claim_slot(&claim("j", t, TimeDelta::hours(1), "d"))
            .await
            .expect("claim"),
        Claim::Lost {
            attempt: 2,
            status: RunStatus::Running,
            ..
        }
    ));
}

async fn concurrent_migrations_against_one_fresh_database_both_succeed(ctx: Ctx) {
    let fresh_url = ctx.fresh_database().await;
    let (a, b) = tokio::join!(store::open(&fresh_url), store::open(&fresh_url));
    let (a, b) = (a.expect("first store"), b.expect("second store"));
    a.upsert_job(&job_record("j", None, "q1"))
        .await
        .expect("usable");
    assert_eq!(
        b.history(&HistoryFilter::default())
            .await
            .expect("usable")
            .len(),
        0
    );
    a.close().await;
    b.close().await;
    ctx.drop_fresh_database(&fresh_url).await;
}

/// Rows as huntd wrote them before findings pointed at results (migrations 0001 and 0002):
/// `h1` seen by both runs, `h2` by the second, `h3` an orphan whose runs an interrupted prune
/// already deleted.
const FINDINGS_BEFORE_0003: &str = r#"
insert into hunt_jobs (name, instance, definition, query_sha256, enabled, retention_seconds,
    view_name, updated_at)
values ('j', 'prod', '{"name":"j"}', 'q1', true, 7776000, 'hunt_j', '2024-05-01T00:00:00.000000Z');
insert into hunt_runs (job, instance, slot_at, window_start, window_end, status, node,
    started_at, finished_at, query_sha256)
values ('j', 'prod', '2024-05-01T09:00:00.000000Z', '2024-05-01T08:00:00.000000Z',
        '2024-05-01T09:00:00.000000Z', 'succeeded', 'a', '2024-05-01T09:00:00.000000Z',
        '2024-05-01T09:00:01.000000Z', 'q1'),
       ('j', 'prod', '2024-05-01T10:00:00.000000Z', '2024-05-01T09:00:00.000000Z',
        '2024-05-01T10:00:00.000000Z', 'succeeded', 'a', '2024-05-01T10:00:00.000000Z',
        '2024-05-01T10:00:01.000000Z', 'q1');
insert into hunt_results (run_id, job, row_num, row_hash, data)
values (1, 'j', 0, 'h1', '{"DeviceName":"pc1","Seen":1}'),
       (2, 'j', 0, 'h2', '{"DeviceName":"pc2","Seen":2}'),
       (2, 'j', 1, 'h1', '{"DeviceName":"pc1","Seen":2}');
insert into hunt_findings (job, row_hash, first_seen_at, last_seen_at, first_run_id,
    last_run_id, times_seen, data)
values ('j', 'h1', '2024-05-01T09:00:01.000000Z', '2024-05-01T10:00:01.000000Z', 1, 2, 2,
        '{"DeviceName":"pc1","Seen":2}'),
       ('j', 'h2', '2024-05-01T10:00:01.000000Z', '2024-05-01T10:00:01.000000Z', 2, 2, 1,
        '{"DeviceName":"pc2","Seen":2}'),
       ('j', 'h3', '2024-04-01T00:00:00.000000Z', '2024-04-01T00:00:00.000000Z', 7, 7, 3,
        '{"DeviceName":"gone"}');
"#;

async fn upgrading_keeps_every_finding_pointing_at_its_latest_row(ctx: Ctx) {
    let url = ctx.fresh_database().await;
    let backend = match ctx.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    // The schema before 0003: the first two migrations, byte for byte, so their checksums match
    // the ones huntd embeds.
    let old = tempfile::tempdir().expect("temp dir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    for name in ["0001_result_store.sql", "0002_skipped_runs.sql"] {
        std::fs::copy(source.join(name), old.path().join(name)).expect("copy migration");
    }
    let migrator = sqlx::migrate::Migrator::new(old.path())
        .await
        .expect("read migrations");
    let raw = match ctx.backend() {
        Backend::Sqlite => {
            let options = SqliteConnectOptions::from_str(&url)
                .expect("sqlite URL")
                .create_if_missing(true);
            let pool = SqlitePool::connect_with(options).await.expect("connect");
            migrator.run(&pool).await.expect("old schema");
            Raw::Sqlite(pool)
        }
        Backend::Postgres => {
            let pool = PgPool::connect(&url).await.expect("connect");
            migrator.run(&pool).await.expect("old schema");
            Raw::Postgres(pool)
        }
    };
    raw.exec(FINDINGS_BEFORE_0003).await;

    let upgraded = Ctx {
        store: store::open(&url).await.expect("upgrade"),
        url: url.clone(),
        raw,
    };
    assert_eq!(
        upgraded
            .texts(
                r"select row_hash || ' ' || last_run_id || ' ' || times_seen || ' '
                      || coalesce(cast(data ->> 'Seen' as text), 'no data')
                  from hunt_findings order by row_hash"
            )
            .await,
        [
            Some("h1 2 2 2".to_string()),
            Some("h2 2 1 2".to_string()),
            Some("h3 7 3 no data".to_string()),
        ]
    );
    assert_eq!(
        upgraded
            .texts("select cast(last_row_num as text) from hunt_finding_state order by row_hash")
            .await,
        [Some("1".to_string()), Some("0".to_string()), None]
    );
    upgraded.store.close().await;
    match &upgraded.raw {
        Raw::Sqlite(pool) => pool.close().await,
        Raw::Postgres(pool) => pool.close().await,
    }
    ctx.drop_fresh_database(&url).await;
}

/// The database named in a PostgreSQL URL.
fn database_name(url: &str) -> String {
    let path = url.split_once('?').map_or(url, |(p, _)| p);
    path[path.rfind('/').expect("URL has a path") + 1..].to_string()
}

/// The same URL naming another database.
fn replace_database(url: &str, name: &str) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let root = &path[..path.rfind('/').expect("URL has a path")];
    if query.is_empty() {
        format!("{root}/{name}")
    } else {
        format!("{root}/{name}?{query}")
    }
}

async fn reporting_queries_in_the_docs_run(ctx: Ctx) {
    ctx.job("j1", None).await;
    ctx.job("j2", None).await;
    let now = Utc::now();
    let columns = device_cols();
    let a = ctx
        .claim("j1", now - TimeDelta::hours(3), TimeDelta::hours(1), "n")
        .await;
    ctx.succeed(&a, &columns, &device_rows(&["pc1", "pc2"]))
        .await;
    let b = ctx
        .claim("j2", now - TimeDelta::hours(2), TimeDelta::hours(1), "n")
        .await;
    ctx.succeed(&b, &columns, &device_rows(&["pc1"])).await;
    let c = ctx
        .claim("j1", now - TimeDelta::hours(1), TimeDelta::hours(1), "n")
        .await;
    ctx.store
        .fail_run(
            &c,
            &RunFailure {
                finished_at: now,
                status: RunStatus::Failed,
                error_class: "throttled",
                error_message: "429",
                api: Some("graph"),
                http_status: Some(429),
                client_request_id: None,
            },
        )
        .await
        .expect("fail");
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reporting.md"))
        .expect("docs/reporting.md");
    let backend = match ctx.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let queries = sql_blocks(&doc, backend);
    assert!(
        queries.len() >= 7,
        "{} queries for {backend}",
        queries.len()
    );
    let mut answers = Vec::new();
    for sql in &queries {
        let rows = ctx
            .run(sql)
            .await
            .unwrap_or_else(|e| panic!("{backend} failed on\n{sql}\n{e}"));
        answers.push(rows);
    }
    // failed runs, new findings per day, top devices, gaps, p95, rows per week, latest failed.
    assert_eq!(answers[0], 1, "one failed run in the last 24 h");
    assert!(answers[1] >= 1);
    assert_eq!(answers[2], 2, "pc1 and pc2");
    assert_eq!(answers[3], 1, "the failed window is a gap");
    assert_eq!(answers[4], 2, "two jobs with durations");
    assert!(answers[5] >= 1);
    assert_eq!(answers[6], 1, "j1's latest run failed");
}

/// The ```sql blocks of a markdown file that apply to one backend, in order.
fn sql_blocks(doc: &str, backend: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<(bool, String)> = None;
    for line in doc.lines() {
        match &mut current {
            None => {
                if let Some(info) = line.trim().strip_prefix("```sql") {
                    let target = info.trim();
                    current = Some((target.is_empty() || target == backend, String::new()));
                }
            }
            Some((applies, text)) => {
                if line.trim() == "```" {
                    if *applies {
                        blocks.push(text.trim().trim_end_matches(';').to_string());
                    }
                    current = None;
                } else {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
    blocks
}

async fn unknown_jobs_are_reported_as_such(ctx: Ctx) {
    let err = ctx
        .store
        .claim_slot(&claim(
            "ghost",
            at("2024-05-01T09:00:00Z"),
            TimeDelta::hours(1),
            "a",
        ))
        .await
        .expect_err("unknown job");
    assert!(
        matches!(err, Error::UnknownJob(ref j) if j == "ghost"),
        "{err}"
    );
    ctx.job("taken-name", None).await;
    let err = ctx
        .store
        .upsert_job(&job_record("taken_name", None, "q"))
        .await
        .expect_err("same view name");
    assert!(matches!(err, Error::ViewNameTaken { .. }), "{err}");
}

#[test]
fn unsupported_urls_are_rejected() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let err = rt
        .block_on(store::open("mysql://user:pw@localhost/db"))
        .expect_err("mysql is not supported");
    assert!(!err.to_string().contains("pw"), "{err}");
}

async fn many_jobs_are_registered_at_once_and_view_clashes_are_left_out(ctx: Ctx) {
    ctx.job("kept-name", Some(&["DeviceId"])).await;
    // More jobs than one SQLite statement can bind, so the write spans several statements.
    let mut batch: Vec<JobRecord> = (0..5000)
        .map(|i| job_record(&format!("job-{i:04}"), None, "q"))
        .collect();
    batch.push(job_record("kept-name", None, "q2"));
    batch.push(job_record("kept_name", None, "q"));
    batch.push(job_record("new-twin", None, "q"));
    batch.push(job_record("new_twin", None, "q"));
    let clashes = ctx.store.upsert_jobs(&batch).await.expect("bulk upsert");
    let mut refused: Vec<(&str, &str, &str)> = clashes
        .iter()
        .map(|c| (c.job.as_str(), c.view.as_str(), c.other.as_str()))
        .collect();
    refused.sort_unstable();
    assert_eq!(
        refused,
        [
            ("kept_name", "hunt_kept_name", "kept-name"),
            ("new_twin", "hunt_new_twin", "new-twin"),
        ]
    );
    assert_eq!(ctx.int("select count(*) from hunt_jobs").await, 5002);
    assert_eq!(
        ctx.texts(
            "select query_sha256 from hunt_jobs \
             where name in ('kept-name', 'new-twin', 'job-4999') order by name"
        )
        .await,
        [
            Some("q".to_string()),
            Some("q2".to_string()),
            Some("q".to_string())
        ]
    );
    // An update replaces the whole record, dedup columns included.
    assert_eq!(
        ctx.int(
            "select count(*) from hunt_jobs where name = 'kept-name' and dedup_columns is null"
        )
        .await,
        1
    );
    let again = ctx
        .store
        .upsert_jobs(&batch[..10])
        .await
        .expect("upsert again");
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(ctx.int("select count(*) from hunt_jobs").await, 5002);
    assert!(
        ctx.store
            .upsert_jobs(&[])
            .await
            .expect("empty batch")
            .is_empty()
    );
}
