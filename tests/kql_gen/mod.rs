//! A grammar-based generator of KQL queries for the oracle tests: valid queries built from the
//! grammar (every tabular operator, statement and literal form huntd's checker knows), and
//! mutated ones (a token dropped, two swapped, an operator replaced, a token inserted, the
//! query cut short), each as tokens joined by spaces.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TABLES: [&str; 6] = [
    "DeviceProcessEvents",
    "DeviceNetworkEvents",
    "DeviceFileEvents",
    "IdentityLogonEvents",
    "EmailEvents",
    "AlertInfo",
];
const COLUMNS: [&str; 10] = [
    "Timestamp",
    "DeviceId",
    "DeviceName",
    "FileName",
    "ProcessCommandLine",
    "RemoteIP",
    "RemotePort",
    "AccountName",
    "SHA256",
    "AdditionalFields",
];
const FUNCTIONS: [&str; 12] = [
    "tolower",
    "toupper",
    "strlen",
    "isnotempty",
    "isempty",
    "ago",
    "now",
    "bin",
    "iff",
    "coalesce",
    "tostring",
    "parse_json",
];
const AGGREGATES: [&str; 8] = [
    "count", "dcount", "make_set", "arg_max", "min", "max", "countif", "take_any",
];
const COMPARISONS: [&str; 9] = ["==", "!=", "<", "<=", ">", ">=", "=~", "!~", "<>"];
const STRING_OPS: [&str; 20] = [
    "has",
    "!has",
    "has_cs",
    "!has_cs",
    "contains",
    "!contains",
    "contains_cs",
    "startswith",
    "!startswith",
    "endswith",
    "endswith_cs",
    "hasprefix",
    "hassuffix",
    "!hasprefix",
    "like",
    "notlike",
    "startswith_cs",
    "!endswith",
    "hassuffix_cs",
    "!contains_cs",
];
const LIST_OPS: [&str; 6] = ["in", "!in", "in~", "!in~", "has_any", "has_all"];
const ARITHMETIC: [&str; 5] = ["+", "-", "*", "/", "%"];
const UNITS: [&str; 12] = [
    "d",
    "h",
    "m",
    "s",
    "ms",
    "min",
    "tick",
    "microsecond",
    "days",
    "hours",
    "seconds",
    "ticks",
];
const OPERATOR_WORDS: [&str; 12] = [
    "where",
    "project",
    "extend",
    "summarize",
    "take",
    "top",
    "sort",
    "distinct",
    "join",
    "mv-expand",
    "parse",
    "count",
];
const INSERTABLE: [&str; 14] = [
    "|", "(", ")", ",", "=", "==", "and", "or", "by", "on", "[", "]", ";", "!",
];

/// Makes queries from a seed; the same seed makes the same queries.
pub struct Generator {
    rng: StdRng,
}

impl Generator {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The next query: valid from the grammar about half the time, mutated otherwise.
    pub fn query(&mut self) -> String {
        let mut toks = self.statements();
        if self.rng.random_bool(0.5) {
            self.mutate(&mut toks);
        }
        toks.join(" ")
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.rng.random_range(0..from.len())]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn statements(&mut self) -> Vec<String> {
        let mut t = Vec::new();
        if self.chance(0.25) {
            self.let_statement(&mut t);
        }
        if self.chance(0.05) {
            push(&mut t, "declare query_parameters ( limit_n : long = 10 ) ;");
        }
        self.pipe(&mut t, 0);
        if self.chance(0.1) {
            t.push(";".into());
        }
        t
    }

    fn let_statement(&mut self, t: &mut Vec<String>) {
        match self.rng.random_range(0..7) {
            4 => push(
                t,
                "let recent_view = view ( ) { DeviceProcessEvents | take 10 }",
            ),
            5 => push(
                t,
                "let sized = ( T : ( DeviceId : string ) , limit_n : long = 5 ) { T | take limit_n }",
            ),
            6 => push(t, "set notruncation"),
            0 => {
                push(t, "let threshold =");
                self.expr(t, 1);
            }
            1 => {
                push(t, "let recent =");
                self.pipe(t, 1);
            }
            2 => {
                push(t, "let pick = ( n : long , name : string = \"x\" ) {");
                self.source(t, 1);
                push(t, "| where strlen ( name ) > n }");
            }
            _ => {
                push(t, "let cached = materialize (");
                self.pipe(t, 1);
                t.push(")".into());
            }
        }
        t.push(";".into());
    }

    fn pipe(&mut self, t: &mut Vec<String>, depth: u32) {
        self.source(t, depth);
        let n = self.rng.random_range(0..if depth > 0 { 3 } else { 6 });
        for _ in 0..n {
            t.push("|".into());
            self.operator(t, depth);
        }
    }

    fn source(&mut self, t: &mut Vec<String>, depth: u32) {
        match self.rng.random_range(0..12) {
            0 if depth < 2 => {
                push(t, "union");
                if self.chance(0.3) {
                    push(t, "withsource = SourceTable");
                }
                let a = self.pick(&TABLES).to_string();
                t.push(a);
                t.push(",".into());
                t.push("(".into());
                self.pipe(t, depth + 1);
                t.push(")".into());
            }
            1 => push(
                t,
                "datatable ( Name : string , Count : long ) [ \"a\" , 1 , \"b\" , 2 ]",
            ),
            2 => {
                push(t, "print Value =");
                self.expr(t, 1);
            }
            3 => push(
                t,
                self.pick(&[
                    "range x from 1 to 10 step 1",
                    "externaldata ( Url : string , Score : long ) [ h@\"https://example.invalid/list.csv\" ] with ( format = \"csv\" , ignoreFirstRecord = true )",
                    "find in ( DeviceProcessEvents , Device* ) where FileName has \"x\" project DeviceName , FileName",
                    "search in ( DeviceProcessEvents ) \"powershell\"",
                    "print Now = now ( ) , Week = ago ( 7d )",
                    "union withsource = Table kind = outer DeviceFileEvents , DeviceNetworkEvents",
                ]),
            ),
            4 if depth < 2 => {
                t.push("(".into());
                self.pipe(t, depth + 1);
                t.push(")".into());
            }
            _ => {
                let name = self.pick(&TABLES).to_string();
                t.push(name);
            }
        }
    }

    fn column(&mut self, t: &mut Vec<String>) {
        if self.chance(0.05) {
            t.push("['Device Name']".into());
        } else {
            let c = self.pick(&COLUMNS).to_string();
            t.push(c);
        }
    }

    fn operator(&mut self, t: &mut Vec<String>, depth: u32) {
        match self.rng.random_range(0..24) {
            0..=4 => {
                push(t, "where");
                self.expr(t, 0);
            }
            5 => {
                push(t, "project");
                self.named_list(t);
            }
            6 => {
                push(t, "extend");
                self.named_list(t);
            }
            7 => self.summarize(t),
            8 => {
                let w = self.pick(&["take", "limit"]).to_string();
                t.push(w);
                let n = self.rng.random_range(1..1000).to_string();
                t.push(n);
            }
            9 => {
                push(t, "top 10 by");
                self.sort_key(t);
            }
            10 => {
                let w = self.pick(&["sort", "order"]).to_string();
                t.push(w);
                t.push("by".into());
                self.sort_key(t);
                if self.chance(0.5) {
                    t.push(",".into());
                    self.sort_key(t);
                }
            }
            11 => {
                let w = self.pick(&["project-away", "project-keep", "project-reorder"]);
                t.push(w.into());
                let p = self.pick(&["DeviceId", "Device*", "*Name", "*1", "SHA256"]);
                t.push(p.into());
                if self.chance(0.5) {
                    push(t, ", FileName");
                }
            }
            12 => push(t, "project-rename Host = DeviceName"),
            13 => {
                push(t, "distinct");
                self.column(t);
            }
            14 => push(t, "count"),
            15 if depth < 2 => self.join(t, depth),
            16 => {
                let w = self.pick(&["mv-expand", "mvexpand"]).to_string();
                t.push(w);
                self.column(t);
                if self.chance(0.3) {
                    push(t, "to typeof ( string )");
                }
            }
            17 => push(
                t,
                "parse ProcessCommandLine with * \"-enc \" Encoded : string \" \" *",
            ),
            18 => push(
                t,
                "make-series Events = count ( ) default = 0 on Timestamp from ago ( 1d ) to now ( ) step 1h by DeviceId",
            ),
            19 => push(t, "evaluate bag_unpack ( AdditionalFields )"),
            20 => self.rare_operator(t),
            21 if depth < 2 => {
                push(
                    t,
                    "mv-apply Item = AdditionalFields to typeof ( dynamic ) on (",
                );
                push(t, "where isnotnull ( Item ) | take 1 )");
            }
            22 => push(t, "top-nested 3 of DeviceName by count ( )"),
            _ => push(t, "render timechart"),
        }
    }

    fn rare_operator(&mut self, t: &mut Vec<String>) {
        let text = self.pick(&[
            "serialize",
            "getschema",
            "sample 10",
            "as Found",
            "invoke pick ( 3 )",
            "fork ( take 1 ) ( count )",
            "facet by DeviceName",
            "sample-distinct 5 of DeviceId",
            "parse-kv AdditionalFields as ( Key : string , Value : long ) with ( pair_delimiter = \",\" )",
            "parse-where FileName with Stem \".\" Extension",
            "scan declare ( Hits : long = 0 ) with ( step s : RemotePort == 445 => Hits = s.Hits + 1 ; )",
            "lookup kind = leftouter ( AlertInfo | project AlertId ) on AlertId",
            "search \"powershell\"",
            "summarize hint.shufflekey = DeviceId count ( ) by DeviceId",
            "top-hitters 5 of DeviceName by RemotePort",
            "count as Total",
            "extend ( Host , Domain ) = split ( DeviceName , \".\" )",
            "project-away *1 , Device*",
            "mv-expand kind = array bagexpansion = bag AdditionalFields",
            "evaluate hint.remote = auto bag_unpack ( AdditionalFields )",
            "render timechart with ( title = \"events\" , xcolumn = Timestamp )",
            "join kind = inner hint.remote = auto ( DeviceInfo ) on $left . DeviceId == $right . DeviceId",
            "facet by DeviceName , FileName with ( take 3 )",
            "partition hint.strategy = native by DeviceId ( top 1 by Timestamp )",
            "parse kind = regex flags = Ui ProcessCommandLine with \"-enc\\\\s+\" Encoded",
            "union kind = inner isfuzzy = true DeviceInfo , Device*",
            "where RemotePort = 445",
            "where DeviceId in ( DeviceInfo | project DeviceId )",
            "extend Count = toscalar ( DeviceInfo | count )",
            "scan with_match_id = Id declare ( Step : long ) with ( step a output = last : FileName has \"x\" ; step b : FileName has \"y\" => Step = 1 ; )",
            "sort by Timestamp desc nulls first , DeviceName asc",
            "top 5 by Timestamp asc nulls last",
            "mv-apply Item = AdditionalFields on ( summarize make_list ( Item ) )",
        ]);
        push(t, text);
    }

    fn join(&mut self, t: &mut Vec<String>, depth: u32) {
        t.push("join".into());
        if self.chance(0.6) {
            let k = self.pick(&["inner", "leftouter", "leftanti", "innerunique", "rightsemi"]);
            push(t, &format!("kind = {k}"));
        }
        if self.chance(0.2) {
            push(t, "hint.strategy = broadcast");
        }
        t.push("(".into());
        self.pipe(t, depth + 1);
        t.push(")".into());
        t.push("on".into());
        if self.chance(0.5) {
            push(t, "$left . DeviceId == $right . DeviceId");
        } else {
            self.column(t);
        }
    }

    fn summarize(&mut self, t: &mut Vec<String>) {
        t.push("summarize".into());
        let n = self.rng.random_range(0..3);
        for i in 0..n {
            if i > 0 {
                t.push(",".into());
            }
            if self.chance(0.5) {
                push(t, &format!("Agg{i} ="));
            }
            let agg = self.pick(&AGGREGATES).to_string();
            t.push(agg.clone());
            t.push("(".into());
            match agg.as_str() {
                "count" => {}
                "arg_max" => push(t, "Timestamp , *"),
                "countif" => self.expr(t, 2),
                _ => self.column(t),
            }
            t.push(")".into());
        }
        if n == 0 || self.chance(0.7) {
            t.push("by".into());
            self.column(t);
            if self.chance(0.4) {
                push(t, ", Bucket = bin ( Timestamp , 1h )");
            }
        }
    }

    fn sort_key(&mut self, t: &mut Vec<String>) {
        self.column(t);
        if self.chance(0.5) {
            let d = self.pick(&["asc", "desc"]).to_string();
            t.push(d);
        }
        if self.chance(0.2) {
            let n = self.pick(&["nulls first", "nulls last"]);
            push(t, n);
        }
    }

    fn named_list(&mut self, t: &mut Vec<String>) {
        let n = self.rng.random_range(1..4);
        for i in 0..n {
            if i > 0 {
                t.push(",".into());
            }
            if self.chance(0.5) {
                push(t, &format!("Col{i} ="));
                self.expr(t, 1);
            } else {
                self.column(t);
            }
        }
    }

    /// A scalar expression, at most `3 - depth` levels deep.
    fn expr(&mut self, t: &mut Vec<String>, depth: u32) {
        if depth >= 3 {
            return self.operand(t);
        }
        match self.rng.random_range(0..12) {
            0 | 1 => {
                self.expr(t, depth + 1);
                let w = self.pick(&["and", "or"]).to_string();
                t.push(w);
                self.expr(t, depth + 1);
            }
            2 | 3 => {
                self.operand(t);
                let op = self.pick(&COMPARISONS).to_string();
                t.push(op);
                self.operand(t);
            }
            4 | 5 => {
                self.column(t);
                let op = self.pick(&STRING_OPS).to_string();
                t.push(op);
                self.string(t);
            }
            6 => {
                self.column(t);
                let op = self.pick(&LIST_OPS).to_string();
                t.push(op);
                t.push("(".into());
                self.string(t);
                if self.chance(0.6) {
                    t.push(",".into());
                    self.string(t);
                }
                t.push(")".into());
            }
            7 => {
                self.column(t);
                let w = self.pick(&["between", "!between"]).to_string();
                t.push(w);
                t.push("(".into());
                self.operand(t);
                t.push("..".into());
                self.operand(t);
                t.push(")".into());
            }
            8 => {
                self.column(t);
                push(t, "matches regex");
                self.string(t);
            }
            9 => {
                t.push("(".into());
                self.expr(t, depth + 1);
                t.push(")".into());
            }
            10 => {
                self.operand(t);
                let op = self.pick(&ARITHMETIC).to_string();
                t.push(op);
                self.operand(t);
            }
            _ => self.operand(t),
        }
    }

    fn operand(&mut self, t: &mut Vec<String>) {
        match self.rng.random_range(0..14) {
            0..=3 => self.column(t),
            4 => {
                let n = self.rng.random_range(0..100_000).to_string();
                t.push(n);
            }
            5 => push(t, self.pick(&["1.5", "0x1F", "2e3", "1.", "-3"])),
            6 => self.string(t),
            7 => {
                let n = self.rng.random_range(1..90);
                let u = self.pick(&UNITS);
                t.push(format!("{n}{u}"));
            }
            8 => push(
                t,
                self.pick(&[
                    "datetime(2024-01-01)",
                    "datetime(2024-01-01T10:00:00Z)",
                    "timespan(1.02:03:04)",
                    "guid(00000000-0000-0000-0000-000000000000)",
                    "long(null)",
                    "real(1.5)",
                    "bool(true)",
                    "int(3)",
                ]),
            ),
            9 => push(
                t,
                self.pick(&[
                    "dynamic ( [ 1 , 2 ] )",
                    "dynamic ( { \"a\" : [ 1 , \"b\" ] } )",
                    "dynamic ( null )",
                    "true",
                    "false",
                ]),
            ),
            10 => {
                self.column(t);
                push(
                    t,
                    self.pick(&[". Field", "[ 0 ]", "[ \"key\" ]", ". a . b"]),
                );
            }
            _ => {
                let f = self.pick(&FUNCTIONS).to_string();
                t.push(f);
                t.push("(".into());
                if self.chance(0.7) {
                    self.column(t);
                    if self.chance(0.3) {
                        t.push(",".into());
                        self.operand(t);
                    }
                }
                t.push(")".into());
            }
        }
    }

    fn string(&mut self, t: &mut Vec<String>) {
        let s = self.pick(&[
            "\"powershell\"",
            "'cmd.exe'",
            "@\"C:\\Windows\\\"",
            "h\"secret\"",
            "@'it''s'",
            "\"a\\\"b\"",
            "```multi\nline```",
            "H@'obfuscated'",
            "\"\"",
        ]);
        t.push(s.into());
    }

    fn mutate(&mut self, toks: &mut Vec<String>) {
        // Split pushed phrases into their tokens so mutations act on single tokens.
        let mut flat: Vec<String> = toks.iter().flat_map(|t| split_phrase(t)).collect();
        if flat.is_empty() {
            return;
        }
        let times = self.rng.random_range(1..3);
        for _ in 0..times {
            if flat.is_empty() {
                break;
            }
            let at = self.rng.random_range(0..flat.len());
            match self.rng.random_range(0..6) {
                0 | 1 => {
                    flat.remove(at);
                }
                2 if at + 1 < flat.len() => flat.swap(at, at + 1),
                3 => {
                    let replacement = if COMPARISONS.contains(&flat[at].as_str()) {
                        self.pick(&STRING_OPS)
                    } else if STRING_OPS.contains(&flat[at].as_str()) {
                        self.pick(&COMPARISONS)
                    } else {
                        self.pick(&OPERATOR_WORDS)
                    };
                    flat[at] = replacement.to_string();
                }
                4 => {
                    let tok = self.pick(&INSERTABLE).to_string();
                    flat.insert(at, tok);
                }
                _ => flat.truncate(at.max(1)),
            }
        }
        *toks = flat;
    }
}

/// Pushes a phrase (tokens separated by single spaces) as one entry; `mutate` splits it.
fn push(t: &mut Vec<String>, phrase: &str) {
    t.push(phrase.to_string());
}

/// A phrase's tokens; string literals with spaces inside stay whole.
fn split_phrase(phrase: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in phrase.chars() {
        match quote {
            Some(q) => {
                current.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == ' ' => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            None => {
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
                current.push(c);
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `n` queries from `seed`.
pub fn queries(seed: u64, n: usize) -> Vec<String> {
    let mut g = Generator::new(seed);
    (0..n).map(|_| g.query()).collect()
}
