use super::parse;
use crate::ast::{BinOp, ExprKind, JoinKind, LetValue, ListOp, OpKind, StrOp};

#[test]
fn pipeline_with_lets_parses() {
    let q = parse("let x = 5;\nlet t = T | where A > x;\nt | project A, b = A + 1 | take 3")
        .expect("fixture value");
    assert_eq!(q.lets.len(), 2);
    assert!(matches!(q.lets[0].value, LetValue::Scalar(_)));
    assert!(matches!(q.lets[1].value, LetValue::Tabular(_)));
    assert_eq!(q.body.ops.len(), 2);
}

#[test]
fn and_binds_tighter_than_or() {
    let q = parse("T | where a == 1 or b == 2 and c == 3").expect("fixture value");
    let OpKind::Where(e) = &q.body.ops[0].kind else {
        panic!()
    };
    assert!(matches!(e.kind, ExprKind::Binary(BinOp::Or, _, _)));
}

#[test]
fn negated_and_case_insensitive_list_operators_parse() {
    let q = parse("T | where a !in~ ('x', 'y') and b !has 'z'").expect("fixture value");
    let OpKind::Where(e) = &q.body.ops[0].kind else {
        panic!()
    };
    let ExprKind::Binary(BinOp::And, l, r) = &e.kind else {
        panic!()
    };
    assert!(matches!(
        l.kind,
        ExprKind::List {
            op: ListOp::NotInCi,
            ..
        }
    ));
    assert!(matches!(
        r.kind,
        ExprKind::Binary(BinOp::Str(StrOp::Has, true), _, _)
    ));
}

#[test]
fn project_away_wildcards_are_patterns() {
    let q = parse("T | project-away *1, Name*, Plain").expect("fixture value");
    let OpKind::ProjectAway(p) = &q.body.ops[0].kind else {
        panic!()
    };
    assert_eq!(
        p,
        &vec!["*1".to_string(), "Name*".to_string(), "Plain".to_string()]
    );
}

#[test]
fn join_on_left_right_pairs() {
    let q = parse("T | join kind=leftouter (U) on $left.A == $right.B, C").expect("fixture value");
    let OpKind::Join { kind, on, .. } = &q.body.ops[0].kind else {
        panic!()
    };
    assert_eq!(*kind, JoinKind::LeftOuter);
    assert_eq!(
        on,
        &vec![
            ("A".to_string(), "B".to_string()),
            ("C".to_string(), "C".to_string())
        ]
    );
}

#[test]
fn operator_options_take_kinds_among_hints_and_a_bare_hint_word_ends_them() {
    let q = parse("T | join hint.strategy = shuffle kind=leftouter hint.remote = auto (U) on A")
        .expect("fixture value");
    let OpKind::Join { kind, .. } = &q.body.ops[0].kind else {
        panic!()
    };
    assert_eq!(*kind, JoinKind::LeftOuter);
    // `hint` not followed by `.` is no option: the parser moves on (and here fails) instead of
    // looking at it again and again.
    assert!(parse("T | join hint (U) on A").is_err());
    assert!(parse("T | make-series hint count() on Timestamp step 1h").is_err());
    let err = parse("T | make-series kind=dense count() on Timestamp step 1h")
        .expect_err("an unknown kind");
    assert_eq!(err.message, "make-series kind 'dense' is not supported");
}

#[test]
fn unsupported_plugin_is_named_with_its_position() {
    let err = parse("T\n| evaluate sequence_detect(B, 1h, 1d, A == 1, A == 2, C)")
        .expect_err("the query must fail");
    assert_eq!(
        err.message,
        "evaluate plugin 'sequence_detect' is not supported by huntd emulate"
    );
    assert_eq!((err.line, err.column), (2, 12));
}

#[test]
fn syntax_error_reports_line_and_column() {
    let err = parse("T\n| where A == ").expect_err("the query must fail");
    assert!(
        err.message
            .starts_with("Syntax error: expected an expression"),
        "{}",
        err.message
    );
    assert_eq!((err.line, err.column), (2, 14));
}

#[test]
fn trailing_garbage_is_a_syntax_error() {
    let err = parse("T | where A == 1 B").expect_err("the query must fail");
    assert_eq!(err.message, "Syntax error: unexpected 'B'");
    assert_eq!(err.column, 18);
}

#[test]
fn deep_nesting_and_long_chains_are_errors_not_stack_overflows() {
    let nested = format!("T | where {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(
        parse(&nested)
            .expect_err("too deep")
            .message
            .contains("nested too deeply")
    );
    let chain = format!("T | where {}", vec!["A == 1"; 50_000].join(" or "));
    assert!(
        parse(&chain)
            .expect_err("too long")
            .message
            .contains("nested too deeply")
    );
    let minus = format!("T | where A == {}1", "-".repeat(100_000));
    assert!(parse(&minus).is_err());
    let fine = format!("T | where {}", vec!["A == 1"; 500].join(" or "));
    assert!(parse(&fine).is_ok());
}

#[test]
fn user_defined_functions_parse_with_scalar_and_tabular_parameters() {
    let q = parse("let f = (x: string, n: long = 2) { x }; T").expect("a function parses");
    assert!(matches!(q.lets[0].value, LetValue::Function(_)));
    let q = parse("let f = (t: (*), u: (A: string, B: long)) { t }; f(T, T)")
        .expect("tabular parameters parse");
    let LetValue::Function(f) = &q.lets[0].value else {
        panic!("a function")
    };
    let tabular: Vec<bool> = f.params.iter().map(|p| p.tabular).collect();
    assert_eq!(tabular, vec![true, true]);
}
