//! Answers that push the store to its edges (issue 13): hostile column names, nulls, more
//! columns than a view can hold, NUL characters, values the database refuses. Every test runs
//! against SQLite (a temp file) and PostgreSQL (a fresh database, from
//! `HUNTD_TEST_POSTGRES_URL`).

#[path = "common/store.rs"]
mod common;

use std::time::Duration;

use chrono::TimeDelta;
use serde_json::value::RawValue;
use sqlx::AssertSqlSafe;

use huntd::store::{Backend, Claim, Column, Error as StoreError, JobRecord, Lease};

use common::{Ctx, Raw, at, claim, cols, run_rows, success};

/// How many columns `select *` from a view returns.
async fn view_width(ctx: &Ctx, view: &str) -> Result<usize, sqlx::Error> {
    use sqlx::Row as _;
    let sql = AssertSqlSafe(format!("select * from {view}"));
    match &ctx.raw {
        Raw::Sqlite(pool) => sqlx::query(sql).fetch_one(pool).await.map(|r| r.len()),
        Raw::Postgres(pool) => sqlx::query(sql).fetch_one(pool).await.map(|r| r.len()),
    }
}

/// Registers job `j` and claims its 09:00 slot.
async fn lease(ctx: &Ctx) -> Lease {
    let job = JobRecord {
        name: "j".to_string(),
        instance: "prod".to_string(),
        definition: serde_json::json!({"name": "j"}),
        query_sha256: "q1".to_string(),
        enabled: true,
        dedup_columns: None,
        retention: Duration::from_secs(86_400),
    };
    ctx.store.upsert_job(&job).await.expect("upsert job");
    let slot = at("2024-05-01T09:00:00Z");
    let request = claim("j", slot, TimeDelta::hours(1), "a");
    match ctx.store.claim_slot(&request).await {
        Ok(Claim::Won(lease)) => lease,
        other => panic!("expected to win the slot: {other:?}"),
    }
}

/// Finishes `lease` with `rows` two seconds after its window; the stored row count.
async fn finish(
    ctx: &Ctx,
    lease: &Lease,
    columns: &[Column],
    rows: &[Box<RawValue>],
) -> Result<i64, StoreError> {
    let rows = run_rows(rows);
    let success = success(lease.window_end, columns, &rows);
    Ok(ctx.store.finish_run(lease, &success).await?.row_count)
}

/// Result rows from borrowed JSON texts.
fn rows(texts: &[&str]) -> Vec<Box<RawValue>> {
    texts
        .iter()
        .map(|t| RawValue::from_string((*t).to_string()).expect("valid JSON row"))
        .collect()
}

common::contract!(
    every_hostile_column_name_gets_a_typed_view_column,
    a_null_in_a_dynamic_column_is_sql_null,
    ten_thousand_columns_keep_every_row_and_view_the_first_columns,
    a_nul_character_never_loses_the_row,
    an_answer_the_database_refuses_fails_the_run,
);

/// The view's column names in order, from the database's catalogue.
async fn view_columns(ctx: &Ctx) -> Vec<String> {
    let sql = match ctx.backend() {
        Backend::Sqlite => "select name from pragma_table_info('hunt_j') order by cid",
        Backend::Postgres => {
            r"select column_name::text from information_schema.columns
              where table_name = 'hunt_j' order by ordinal_position"
        }
    };
    ctx.texts(sql).await.into_iter().flatten().collect()
}

async fn every_hostile_column_name_gets_a_typed_view_column(ctx: Ctx) {
    let lease = lease(&ctx).await;
    let long = "L".repeat(300);
    let columns = cols(&[
        ("a\"b", "String"),
        ("x'); drop table hunt_runs; --", "String"),
        (&long, "Int64"),
        ("Timestamp", "String"),
        ("timestamp", "String"),
        ("", "String"),
        ("run_id", "String"),
        ("back\\slash", "String"),
    ]);
    let row = format!(
        r#"{{"a\"b":"quoted","x'); drop table hunt_runs; --":"sql","{long}":7,"Timestamp":"T","timestamp":"t","":"blank","run_id":"r","back\\slash":"b"}}"#
    );
    finish(&ctx, &lease, &columns, &rows(&[&row]))
        .await
        .expect("finish run");
    let names = view_columns(&ctx).await;
    assert_eq!(names.len(), 6 + columns.len(), "{names:?}");
    assert_eq!(
        ctx.texts("select \"a\"\"b\" from hunt_j").await,
        [Some("quoted".to_string())]
    );
    assert_eq!(
        ctx.texts("select \"back\\slash\" from hunt_j").await,
        [Some("b".to_string())]
    );
    assert_eq!(
        ctx.texts("select column_5 from hunt_j").await,
        [Some("blank".to_string())]
    );
    assert_eq!(ctx.int("select count(*) from hunt_runs").await, 1);
}

async fn a_null_in_a_dynamic_column_is_sql_null(ctx: Ctx) {
    let lease = lease(&ctx).await;
    let columns = cols(&[("n", "Int64"), ("Extra", "Dynamic"), ("S", "String")]);
    let data = rows(&[
        r#"{"n":0,"Extra":null,"S":null}"#,
        r#"{"n":1,"Extra":{"a":1},"S":"x"}"#,
        r#"{"n":2,"Extra":"null","S":"null"}"#,
        r#"{"n":3,"S":"missing"}"#,
    ]);
    finish(&ctx, &lease, &columns, &data)
        .await
        .expect("finish run");
    assert_eq!(
        ctx.int("select count(*) from hunt_j where Extra is null")
            .await,
        2,
        "a JSON null and a missing value are both SQL NULL"
    );
    assert_eq!(
        ctx.int("select count(*) from hunt_j where S is null").await,
        1
    );
}

async fn ten_thousand_columns_keep_every_row_and_view_the_first_columns(ctx: Ctx) {
    let lease = lease(&ctx).await;
    let names: Vec<String> = (0..10_000).map(|i| format!("c{i}")).collect();
    let spec: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "Int64")).collect();
    let columns = cols(&spec);
    let row: String = {
        let fields: Vec<String> = names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("\"{n}\":{i}"))
            .collect();
        format!("{{{}}}", fields.join(","))
    };
    let stored = finish(&ctx, &lease, &columns, &rows(&[&row, &row])).await;
    assert_eq!(stored.expect("the run is stored"), 2);
    assert_eq!(ctx.int("select count(*) from hunt_results").await, 2);
    assert_eq!(
        ctx.int("select count(*) from hunt_columns").await,
        10_000,
        "the whole schema is recorded"
    );
    let (kept, width) = match ctx.backend() {
        Backend::Sqlite => (1994, 2000),
        Backend::Postgres => (1594, 1600),
    };
    assert_eq!(
        view_width(&ctx, "hunt_j").await.expect("the view works"),
        width
    );
    let last = format!("select c{} from hunt_j limit 1", kept - 1);
    assert_eq!(ctx.int(&last).await, kept - 1);
    let notes = ctx
        .texts("select status || ': ' || error_message from hunt_runs")
        .await;
    let note = notes[0].clone().expect("the run notes what was left out");
    assert!(
        note.starts_with("succeeded: ") && note.contains(&format!("first {kept} of 10000")),
        "{note}"
    );
}

async fn a_nul_character_never_loses_the_row(ctx: Ctx) {
    let lease = lease(&ctx).await;
    let columns = cols(&[("s", "String"), ("n\u{0}l", "String"), ("d", "Dynamic")]);
    let data = rows(&[
        r#"{"s":"x\u0000y","n\u0000l":"key","d":{"k":"\u0000"}}"#,
        r#"{"s":"not a NUL: \\u0000","n\u0000l":null,"d":null}"#,
    ]);
    finish(&ctx, &lease, &columns, &data)
        .await
        .expect("a NUL is stored");
    assert_eq!(
        ctx.texts("select status from hunt_runs").await,
        [Some("succeeded".to_string())]
    );
    assert_eq!(ctx.int("select count(*) from hunt_results").await, 2);
    assert_eq!(ctx.int("select count(*) from hunt_findings").await, 2);
    let s = ctx.texts("select s from hunt_j order by row_num").await;
    match ctx.backend() {
        Backend::Sqlite => assert_eq!(s[0].as_deref(), Some("x\u{0}y")),
        Backend::Postgres => assert_eq!(s[0].as_deref(), Some("x\\u0000y")),
    }
    assert_eq!(s[1].as_deref(), Some("not a NUL: \\u0000"));
    assert_eq!(
        ctx.texts("select n_l from hunt_j order by row_num").await,
        [Some("key".to_string()), None]
    );
}

async fn an_answer_the_database_refuses_fails_the_run(ctx: Ctx) {
    let lease = lease(&ctx).await;
    let columns = cols(&[("huge", "Double")]);
    let data = rows(&[r#"{"huge":1e1000000}"#]);
    let outcome = finish(&ctx, &lease, &columns, &data).await;
    let status = ctx.texts("select status from hunt_runs").await;
    match ctx.backend() {
        // SQLite keeps JSON as text: the number is stored as written.
        Backend::Sqlite => {
            assert_eq!(outcome.expect("stored as text"), 1);
            assert_eq!(status, [Some("succeeded".to_string())]);
        }
        // jsonb's numeric cannot hold it; the run must end rather than be hunted again.
        Backend::Postgres => {
            let err = outcome.expect_err("jsonb refuses the number");
            assert!(matches!(err, StoreError::Unstorable { .. }), "{err}");
            assert!(err.to_string().contains("numeric"), "{err}");
            assert_eq!(status, [Some("failed".to_string())]);
            assert_eq!(
                ctx.texts("select error_class from hunt_runs").await,
                [Some("unstorable".to_string())]
            );
            assert_eq!(ctx.int("select count(*) from hunt_results").await, 0);
            let retaken = ctx
                .store
                .take_over_expired("b", at("2024-05-01T10:00:00Z"), at("2024-05-01T09:30:00Z"))
                .await
                .expect("take over");
            assert!(retaken.is_empty(), "a failed run is never taken over");
        }
    }
}
