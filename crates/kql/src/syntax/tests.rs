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
