//! The regexes the functions that take one compile from their arguments, cached per thread.

use std::cell::RefCell;

use regex::Regex;

/// How many compiled regexes each thread keeps for the functions that take one per row.
const CACHED_REGEXES: usize = 8;

thread_local! {
    /// The regexes compiled last, most recent first: a query's pattern is nearly always the
    /// same literal on every row, and compiling it per row would dominate the run.
    static REGEXES: RefCell<Vec<(String, Regex)>> = const { RefCell::new(Vec::new()) };
}

/// `pattern` compiled, from the cache when it was compiled recently.
pub(super) fn cached_regex(pattern: &str) -> Result<Regex, regex::Error> {
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(at) = cache.iter().position(|(p, _)| p == pattern) {
            let hit = cache.remove(at);
            let re = hit.1.clone();
            cache.insert(0, hit);
            return Ok(re);
        }
        let re = Regex::new(pattern)?;
        cache.insert(0, (pattern.to_string(), re.clone()));
        cache.truncate(CACHED_REGEXES);
        Ok(re)
    })
}
