//! The KQL engine never panics on a query, whatever it is: the oracle tests' generated queries,
//! valid and mutated (a token dropped, two swapped, one replaced or inserted, the query cut
//! short), run over the emulator's sample data, each answered with rows or an error.

mod kql_gen;

use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{DateTime, TimeDelta, Utc};
use huntd::emulator::data::{SampleOptions, sample};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-02-01T09:00:00Z")
        .expect("fixture time")
        .with_timezone(&Utc)
}

/// Runs each query, returning the ones that panicked with their message, and how many gave rows.
fn panics(db: &kql::Database, queries: &[String]) -> (Vec<String>, usize) {
    let mut found = Vec::new();
    let mut answered = 0;
    let window = Some((now() - TimeDelta::days(1), now()));
    for query in queries {
        match catch_unwind(AssertUnwindSafe(|| kql::run(db, query, now(), window))) {
            Ok(Ok(_)) => answered += 1,
            Ok(Err(_)) => {}
            Err(e) => {
                let message = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_string()))
                    .unwrap_or_default();
                found.push(format!("{query:?}: {message}"));
            }
        }
    }
    (found, answered)
}

#[test]
fn generated_and_mutated_queries_get_rows_or_an_error_never_a_panic() {
    let db = sample(&SampleOptions {
        seed: 7,
        rows_per_table: 200,
        now: now(),
    });
    let queries: Vec<String> = (0..20)
        .flat_map(|seed| kql_gen::queries(seed, 1000))
        .collect();
    let (found, answered) = panics(&db, &queries);
    println!(
        "{} queries, {answered} answered with rows, {} panicked",
        queries.len(),
        found.len()
    );
    for f in found.iter().take(40) {
        println!("PANIC {f}");
    }
    assert!(found.is_empty(), "{} queries panicked", found.len());
    // Most mutated queries are errors; enough valid ones must reach the evaluator to prove it.
    assert!(
        answered >= 1000,
        "only {answered} queries answered with rows"
    );
}
