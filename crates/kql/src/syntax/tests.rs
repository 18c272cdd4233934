use super::check;

fn errors(src: &str) -> Vec<(String, usize)> {
    check(src)
        .errors
        .into_iter()
        .map(|e| (e.message, e.span.start))
        .collect()
}

#[test]
fn a_dangling_and_is_an_error_at_the_end_of_the_query() {
    let q = "DeviceProcessEvents | where ProcessCommandLine hass \"x\" and";
    let found = errors(q);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].1, 47, "{found:?}");
}

#[test]
fn operators_the_engine_does_not_run_still_parse() {
    for q in [
        "T | scan declare (a: long) with (step s: x > 1;)",
        "T | parse x with * \"a\" y: long \"b\" *",
        "T | make-series c = count() default = 0 on Timestamp from ago(1d) to now() step 1h by a",
        "T | mv-apply x to typeof(long) on (summarize count())",
        "let f = (a: long, b: string = \"x\") { T | where y == a }; f(1)",
        "declare query_parameters(a: long); T | top-nested 3 of a by count()",
        "T | join kind=inner hint.strategy=broadcast (U) on $left.a == $right.b",
        "datatable(a: long, b: string)[1, \"x\"] | evaluate bag_unpack(b)",
        "T | where x !has_cs @\"a\" and y in~ (h'b') and z between (1 .. 2)",
    ] {
        assert!(check(q).is_valid(), "{q}: {:?}", check(q).errors);
    }
}

#[test]
fn each_statement_reports_its_own_first_error() {
    let found = errors("T | where; U | take; V");
    assert_eq!(found.len(), 2, "{found:?}");
}

#[test]
fn constructs_name_the_operators_met() {
    let names: Vec<String> = check("T | scan with (step s: true;) | take 1")
        .constructs
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["scan", "take"]);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let q = format!("print {}1{}", "(".repeat(5000), ")".repeat(5000));
    assert!(!check(&q).is_valid());
}

/// Asserts each query is valid and each of `rejected` is not, as Kusto's parser judges them.
fn judged(accepted: &[&str], rejected: &[&str]) {
    for q in accepted {
        assert!(check(q).is_valid(), "{q}: {:?}", check(q).errors);
    }
    for q in rejected {
        assert!(!check(q).is_valid(), "{q} is accepted");
    }
}

#[test]
fn some_keywords_are_names_where_a_name_is_declared_or_assigned() {
    judged(
        &[
            "T | extend where = 1, by = 2, ['a b'] = 3",
            "T | summarize in = count() by to = a",
            "T | project-rename where = X, Host = DeviceName",
            "T | make-series where = count() on Timestamp step 1h",
            "T | extend (where, by) = f(x)",
            "datatable(where: string, by: long)[\"a\", 1]",
            "declare query_parameters(where: string); T",
            "let f = (by: long) { print by = 1 }; f(1)",
            "T | sort by where = 1 asc, b | top 10 by a = 1 desc",
            "T | make-series count() on where = Timestamp step 1h",
            "T | top-hitters 3 of where = x",
            "T | reduce by where = x",
        ],
        &[
            "T | summarize by where",
            "T | facet by where",
            "T | join (T) on where = x",
            "T | extend project = 1",
            "T | project-rename project = X",
            "T | make-series project = count() on Timestamp step 1h",
            "datatable(project: string)[\"a\"]",
            "T | where where == 1",
            "print x.where",
            "let where = 1; T",
        ],
    );
}

#[test]
fn kind_and_its_kin_are_names_only_where_a_name_is_read() {
    judged(
        &[
            "T | where kind == 1 | project withsource",
            "print x.kind, x.count, x.['where']",
        ],
        &[
            "declare query_parameters(kind: string); T",
            "let kind = 1; T",
            "T | extend kind = 1",
            "T | project-away kind",
            "print x.kind(1)",
        ],
    );
}

#[test]
fn every_hyphenated_keyword_is_one_word_and_needs_brackets() {
    judged(
        &["print ['graph-to-table'] = 1", "print x-y"],
        &[
            "print graph-to-table",
            "T | execute-and-cache",
            "T | extend project-smart = 1",
        ],
    );
}

#[test]
fn row_schemas_take_a_leading_comma_and_parameter_schemas_do_not() {
    judged(
        &[
            "datatable(, a: long)[1]",
            "datatable(, a: string, )[, \"x\", ]",
            "externaldata(, a: string)[\"x\"]",
            "T | parse-kv x as (, a: string)",
            "let f = (T: (a: long, )) { T }; print 1",
        ],
        &[
            "let f = (T: (, a: long)) { T }; f(1)",
            "datatable(a: long,,)[1]",
        ],
    );
}

#[test]
fn externaldata_properties_take_one_literal_token_or_a_name() {
    judged(
        &[
            "externaldata(a: string)[\"x\", ] with (format = csv, ignoreFirstRecord = true, \
             x = 1.5, y = datetime(2020-01-01), z = \"a\" \"b\", w = null, v = where, u = 0x1F)",
            "externaldata(a: string)[\"x\"] with ()",
        ],
        &[
            "externaldata(a: string)[\"x\"] with (mv-expand = 1)",
            "externaldata(a: string)[\"x\"] with (format = mv-expand)",
            "externaldata(a: string)[\"x\"] with (format = 1d)",
            "externaldata(a: string)[\"x\"] with (format = dynamic([1]))",
            "externaldata(a: string)[\"x\"] with (format = -1)",
            "externaldata(a: string)[\"x\"] with (format = int(1))",
            "externaldata(a: string)[\"x\"] with (format = 1 + 1)",
            "externaldata(a: string)[\"x\"] with (format = csv, )",
        ],
    );
}

#[test]
fn literals_and_let_forms_are_where_kusto_takes_them() {
    judged(
        &[
            "set notruncation; set count = 1; T",
            "print typeof(long), typeof(dynamic), typeof(x)",
            "print null(1), true, false",
            "let x = materialize(T | take 1); x",
            "print x between (1 .. 2 == 3), x between (1 == 2 .. 3)",
            "union A, B*, (C | take 1)",
            "union kind = inner isfuzzy = true A, B",
            "union withsource = T kind",
            "print f(print = 1, where = 2), f(datatable(a: long)[1])",
            "print x + externaldata(a: string)[\"x\"]",
            "T | parse x with * \"a\" where * | parse y with * \"b\" * in",
            "print matches = 1",
        ],
        &[
            "set where",
            "set kind = 1",
            "set a.b = 1",
            "print true(1)",
            "union A, true",
            "union A or (B)",
            "print materialize(T)",
            "let x = (materialize(T)); x",
            "let x = materialize(T, 1); x",
            "print f(project = 1)",
            "print f(kind = 1)",
            "T | parse x with * \"a\" * kind",
            "T | parse x with * \"a\" * where y matches regex \"b\"",
        ],
    );
}

#[test]
fn a_scan_steps_output_is_all_last_or_none_in_lower_case() {
    for output in ["all", "last", "none"] {
        let q = format!("T | scan with (step s output={output}: x > 1;)");
        assert!(check(&q).is_valid(), "{q}: {:?}", check(&q).errors);
    }
    for output in ["project", "All"] {
        let q = format!("T | scan with (step s output={output}: x > 1;)");
        assert!(!check(&q).is_valid(), "{q}");
    }
}
