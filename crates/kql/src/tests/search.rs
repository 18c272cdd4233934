//! `search` and `find` over several tables built in each test.

use serde_json::{Value as J, json};

use super::support::{rows_in, run_in};
use crate::fixture::{db, l, now, s, table};
use crate::{KqlType, Table, run};

fn tables() -> Vec<Table> {
    vec![
        table("A", &[("Name", KqlType::String), ("N", KqlType::Long)])
            .row(vec![s("alpha beta"), l(1)])
            .row(vec![s("gamma"), l(2)])
            .build(),
        table("B", &[("Name", KqlType::String), ("Path", KqlType::String)])
            .row(vec![s("Alpha"), s("c:\\x")])
            .row(vec![s("delta"), s("c:\\alphabet")])
            .build(),
        table("C", &[("X", KqlType::Long)]).row(vec![l(7)]).build(),
    ]
}

fn rows(query: &str) -> Vec<J> {
    rows_in(tables(), query)
}

fn names(query: &str) -> Vec<String> {
    let answer = run_in(&db(tables()), query);
    answer.columns.into_iter().map(|(n, _)| n).collect()
}

#[test]
fn search_a_term_matches_whole_terms_in_any_column_of_every_table_with_table_named() {
    assert_eq!(
        rows("search 'alpha'"),
        vec![
            json!({"$table": "A", "Name": "alpha beta", "N": 1, "Path": null}),
            json!({"$table": "B", "Name": "Alpha", "N": null, "Path": "c:\\x"}),
        ]
    );
}

#[test]
fn search_wildcards_choose_prefix_suffix_and_substring_matches() {
    let tables = |q: &str| -> Vec<J> { rows(q).iter().map(|r| r["Name"].clone()).collect() };
    assert_eq!(
        tables("search in (B) 'alpha*'"),
        vec![json!("Alpha"), json!("delta")]
    );
    assert_eq!(tables("search in (A) '*mma'"), vec![json!("gamma")]);
    assert_eq!(tables("search in (A, B) '*lph*'").len(), 3);
    assert_eq!(tables("search in (A) 'g*a'"), vec![json!("gamma")]);
}

#[test]
fn search_in_named_tables_with_a_column_predicate_and_piped_search_keeps_columns() {
    assert_eq!(
        rows("search in (A, B) Name has 'delta' or N == 2"),
        vec![
            json!({"$table": "A", "Name": "gamma", "N": 2, "Path": null}),
            json!({"$table": "B", "Name": "delta", "N": null, "Path": "c:\\alphabet"}),
        ]
    );
    assert_eq!(
        rows("A | search 'beta'"),
        vec![json!({"Name": "alpha beta", "N": 1})]
    );
    assert_eq!(rows("search kind=case_sensitive 'Alpha'").len(), 1);
    assert_eq!(
        rows("search in (B) Path:'alpha*' and not('delta')"),
        Vec::<J>::new()
    );
    assert_eq!(
        rows("search in (B) Path:'alpha*' or Name:'alpha'")
            .iter()
            .map(|r| r["Name"].clone())
            .collect::<Vec<_>>(),
        vec![json!("Alpha"), json!("delta")]
    );
}

#[test]
fn find_project_smart_keeps_named_and_common_columns_and_packs_the_rest() {
    assert_eq!(
        rows("find in (A, B, C) where Name has 'alpha'"),
        vec![
            json!({"source_": "A", "Name": "alpha beta", "pack_": {"N": 1}}),
            json!({"source_": "B", "Name": "Alpha", "pack_": {"Path": "c:\\x"}}),
        ]
    );
}

#[test]
fn find_project_lists_columns_nulls_where_a_table_lacks_one_and_casts_typed_ones() {
    assert_eq!(
        rows(
            "find withsource=T in (A, B) where Name =~ 'alpha' or N == 2 project Name, Path, N:string"
        ),
        vec![
            json!({"T": "A", "Name": "gamma", "Path": null, "N": "2"}),
            json!({"T": "B", "Name": "Alpha", "Path": "c:\\x", "N": null}),
        ]
    );
    assert_eq!(
        names("find in (C) where X == 7 project X, pack_all()"),
        vec!["source_", "X", "pack_"]
    );
}

#[test]
fn find_gives_a_column_per_type_when_tables_disagree_on_a_named_columns_type() {
    let mut with_d = tables();
    with_d.push(
        table("D", &[("Name", KqlType::Long)])
            .row(vec![l(5)])
            .build(),
    );
    let r = run(
        &db(with_d),
        "find in (A, D) where isnotempty(Name) and tostring(Name) != 'gamma'",
        now(),
        None,
    )
    .expect("find over two types of Name");
    let names: Vec<String> = r.columns.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(names, vec!["source_", "Name_string", "Name_long", "pack_"]);
    assert_eq!(
        r.rows_json().into_iter().map(J::Object).collect::<Vec<_>>(),
        vec![
            json!({"source_": "A", "Name_string": "alpha beta", "Name_long": null, "pack_": {"N": 1}}),
            json!({"source_": "D", "Name_string": null, "Name_long": 5, "pack_": {}}),
        ]
    );
}
