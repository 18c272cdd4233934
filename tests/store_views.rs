//! The typed per-job views and the docs' reporting queries that read them.
//! Every test runs against SQLite and PostgreSQL (see `common/store.rs`).

#[path = "common/store.rs"]
mod common;

use chrono::{TimeDelta, Utc};
use huntd::store::{Backend, Claim, Column};
use serde_json::value::RawValue;

use common::{Ctx, api_failure, at, claim, cols, job_record, rows};

common::contract!(
    the_typed_view_has_one_typed_column_per_result_column,
    the_view_is_recreated_when_the_schema_changes,
    reporting_queries_in_the_docs_run,
);

async fn the_typed_view_has_one_typed_column_per_result_column(ctx: Ctx) {
    ctx.job("encoded-powershell", None).await;
    let t = at("2024-05-01T09:00:00Z");
    let lease = ctx
        .claim("encoded-powershell", t, TimeDelta::hours(1), "a")
        .await;
    ctx.succeed(&lease, &typed_columns(), &typed_rows()).await;
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
        Backend::Postgres => assert_postgres_view_types(&ctx).await,
        Backend::Sqlite => assert_sqlite_view_types(&ctx).await,
    }
}

/// One column of every Defender type, and one huntd does not know.
fn typed_columns() -> Vec<Column> {
    cols(&[
        ("Timestamp", "DateTime"),
        ("DeviceName", "String"),
        ("DeviceId", "Guid"),
        ("Count", "Int64"),
        ("Small", "Int32"),
        ("Score", "Double"),
        ("IsAdmin", "Boolean"),
        ("Extra", "Dynamic"),
        ("Odd", "SomethingNew"),
    ])
}

/// Three rows of [`typed_columns`]: the first holds an `i64::MAX`, 7 fractional digits and
/// nested JSON.
fn typed_rows() -> Vec<Box<RawValue>> {
    rows(&[
        r#"{"Timestamp":"2024-05-01T08:10:00.1234567Z","DeviceName":"pc1","DeviceId":"5f1c7d3e-0000-4000-8000-000000000001","Count":9223372036854775807,"Small":7,"Score":0.5,"IsAdmin":true,"Extra":{"b":[1,2],"a":"x"},"Odd":"?"}"#.to_string(),
        r#"{"Timestamp":"2024-05-01T08:20:00Z","DeviceName":"pc1","DeviceId":"5f1c7d3e-0000-4000-8000-000000000002","Count":-1,"Small":8,"Score":1.25,"IsAdmin":false,"Extra":null,"Odd":"!"}"#.to_string(),
        r#"{"Timestamp":"2024-05-01T08:30:00Z","DeviceName":"pc2","DeviceId":"5f1c7d3e-0000-4000-8000-000000000003","Count":3,"Small":9,"Score":2,"IsAdmin":false,"Extra":[1],"Odd":"."}"#.to_string(),
    ])
}

/// PostgreSQL's view has a native type per Defender type.
async fn assert_postgres_view_types(ctx: &Ctx) {
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
            "instance text",
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

/// SQLite's view stores each value with the storage class of its type, times as given.
async fn assert_sqlite_view_types(ctx: &Ctx) {
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

async fn reporting_queries_in_the_docs_run(ctx: Ctx) {
    ctx.job("j1", None).await;
    ctx.job("j2", None).await;
    let now = Utc::now();
    let h = TimeDelta::hours;
    ctx.succeed_with_devices("j1", now - h(3), h(1), "n", &["pc1", "pc2"])
        .await;
    ctx.succeed_with_devices("j2", now - h(2), h(1), "n", &["pc1"])
        .await;
    let c = ctx.claim("j1", now - h(1), h(1), "n").await;
    ctx.store
        .fail_run(&c, &api_failure("throttled", "429", 429, now))
        .await
        .expect("fail");
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reporting.md"))
        .expect("docs/reporting.md");
    let backend = ctx.backend_name();
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
