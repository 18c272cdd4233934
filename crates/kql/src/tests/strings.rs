//! The case-sensitive term operators and the older operator spellings Kusto's parser takes.

use super::support::{assert_counts, fails};

#[test]
fn hasprefix_cs_and_hassuffix_cs_match_a_terms_start_or_end_with_case() {
    assert_counts(&[
        ("Proc | where CommandLine hasprefix_cs 'Power'", 1),
        ("Proc | where CommandLine hasprefix_cs 'power'", 1),
        ("Proc | where CommandLine hasprefix_cs 'shell'", 0),
        ("Proc | where CommandLine hassuffix_cs 'Shell'", 1),
        ("Proc | where CommandLine hassuffix_cs 'EXE'", 1),
        ("Proc | where CommandLine hassuffix_cs 'exe'", 2),
        ("Proc | where CommandLine !hasprefix_cs 'Power'", 3),
        ("Proc | where CommandLine !hassuffix_cs 'exe'", 2),
    ]);
}

#[test]
fn older_spellings_mean_what_their_names_say() {
    // `notcontains` is `!contains`, `containscs` is `contains_cs`, and so on.
    assert_counts(&[
        ("Proc | where FileName notcontains 'SHELL'", 2),
        ("Proc | where FileName notcontainscs 'shell'", 3),
        ("Proc | where FileName containscs 'Shell'", 1),
        ("Proc | where FileName startswithcs 'Power'", 1),
        ("Proc | where FileName notstartswith 'power'", 2),
        ("Proc | where FileName notstartswithcs 'power'", 3),
        ("Proc | where FileName endswithcs 'EXE'", 1),
        ("Proc | where FileName notendswith 'EXE'", 0),
        ("Proc | where FileName notendswithcs 'EXE'", 3),
        ("Proc | where CommandLine hasprefixcs 'Power'", 1),
        ("Proc | where CommandLine hassuffixcs 'Shell'", 1),
    ]);
}

#[test]
fn case_sensitive_search_terms_with_one_wildcard_match_term_affixes() {
    assert_counts(&[
        ("Proc | search kind=case_sensitive 'Power*'", 1),
        ("Proc | search kind=case_sensitive 'power*'", 1),
        ("Proc | search kind=case_sensitive '*EXE'", 1),
    ]);
}

#[test]
fn words_that_are_not_kusto_operators_or_undocumented_are_refused_by_name() {
    for (query, name) in [
        ("Proc | where FileName like 'p%'", "like"),
        ("Proc | where FileName notlike 'p%'", "notlike"),
        ("Proc | where FileName matches_cs 'p'", "matches_cs"),
        ("Proc | where FileName notcontains_cs 'p'", "notcontains_cs"),
    ] {
        assert_eq!(
            fails(query).message,
            format!("'{name}' operator is not supported"),
            "{query}"
        );
    }
}
