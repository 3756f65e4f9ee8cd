//! Malformed inputs made from valid ones: byte, line, token and JSON-tree
//! mutations, as proptest strategies whose values are the mutations (so a
//! failing case prints what was done to the valid file, not the whole file),
//! and the runner every property of this suite uses: a fixed seed per
//! property, no persistence file, a fixed number of cases.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::Value;

/// Runs `test` on `cases` values of `strategy`, from a seed fixed by `name`,
/// writing no persistence file; panics with the smallest failing value.
pub fn check<S: Strategy>(name: &str, cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 200, ..Config::default() };
    let mut seed = [0u8; 32];
    for (i, b) in name.bytes().enumerate() {
        seed[i % 32] ^= b.rotate_left(i as u32 / 32);
    }
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
    let verbose = std::env::var("SEQCAL_PROPTEST_SHOW").is_ok_and(|v| v == "1");
    let result = runner.run(&strategy, |v| {
        if verbose {
            eprintln!("CASE {name}: {v:?}");
        }
        test(v)
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

/// Calls `f`, turning a panic into a test failure that names `what`.
pub fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
        TestCaseError::fail(format!("{what} panicked: {msg}"))
    })
}

/// One change to a byte string.
#[derive(Debug, Clone)]
pub enum ByteOp {
    /// Keep only the bytes before this position.
    Truncate(Index),
    /// XOR the byte at this position with a non-zero mask.
    Flip(Index, u8),
    /// Insert these bytes at this position.
    Insert(Index, Vec<u8>),
    /// Delete up to this many bytes from this position.
    Delete(Index, usize),
    /// Copy up to this many bytes from this position right after them.
    Duplicate(Index, usize),
}

fn byte_op() -> impl Strategy<Value = ByteOp> {
    prop_oneof![
        2 => any::<Index>().prop_map(ByteOp::Truncate),
        4 => (any::<Index>(), 1u8..=255).prop_map(|(i, m)| ByteOp::Flip(i, m)),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, b)| ByteOp::Insert(i, b)),
        1 => (any::<Index>(), 1usize..64).prop_map(|(i, n)| ByteOp::Delete(i, n)),
        1 => (any::<Index>(), 1usize..64).prop_map(|(i, n)| ByteOp::Duplicate(i, n)),
    ]
}

fn apply_byte(b: &mut Vec<u8>, op: &ByteOp) {
    let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len + 1) };
    match op {
        ByteOp::Truncate(i) => b.truncate(at(i, b.len())),
        ByteOp::Flip(i, m) if !b.is_empty() => {
            let k = i.index(b.len());
            b[k] ^= m;
        }
        ByteOp::Flip(..) => {}
        ByteOp::Insert(i, bytes) => {
            let k = at(i, b.len());
            b.splice(k..k, bytes.iter().copied());
        }
        ByteOp::Delete(i, n) => {
            let k = at(i, b.len());
            let end = (k + n).min(b.len());
            b.drain(k..end);
        }
        ByteOp::Duplicate(i, n) => {
            let k = at(i, b.len());
            let end = (k + n).min(b.len());
            let copy = b[k..end].to_vec();
            b.splice(end..end, copy);
        }
    }
}

/// A malformed byte string: the valid one changed by a few [`ByteOp`]s,
/// random bytes, or nothing.
#[derive(Debug, Clone)]
pub enum Bytes {
    /// These changes, in order.
    Ops(Vec<ByteOp>),
    /// These bytes instead of the file.
    Random(Vec<u8>),
    /// An empty file.
    Empty,
}

impl Bytes {
    /// The mutated copy of `valid`.
    pub fn apply(&self, valid: &[u8]) -> Vec<u8> {
        match self {
            Bytes::Ops(ops) => {
                let mut b = valid.to_vec();
                ops.iter().for_each(|op| apply_byte(&mut b, op));
                b
            }
            Bytes::Random(r) => r.clone(),
            Bytes::Empty => Vec::new(),
        }
    }
}

/// [`Bytes`] with mostly small changes to the valid file.
pub fn bytes() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        12 => prop::collection::vec(byte_op(), 1..4).prop_map(Bytes::Ops),
        2 => prop::collection::vec(any::<u8>(), 0..512).prop_map(Bytes::Random),
        1 => Just(Bytes::Empty),
    ]
}

/// Values that break parsers and checks: not numbers, not finite, out of
/// range, of another type, empty.
pub const ODD_TOKENS: &[&str] = &[
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1e999",
    "-1e999",
    "1e308",
    "-1e308",
    "5e-324",
    "0",
    "-0",
    "-1",
    "",
    "x",
    "\"\"",
    "true",
    "[]",
    "{}",
    "[1, 2]",
    "1.5",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "340282366920938463463374607431768211456",
    "1e20",
    "\u{0}",
    "é",
];

/// One change to a text file.
#[derive(Debug, Clone)]
pub enum TextOp {
    /// Delete a line.
    DeleteLine(Index),
    /// Repeat a line right after itself.
    DuplicateLine(Index),
    /// Exchange two lines.
    SwapLines(Index, Index),
    /// Replace a token (a run of characters other than blanks and `,=[]{}"():`) with an odd one.
    Token(Index, &'static str),
    /// Insert a line of odd tokens.
    InsertLine(Index, Vec<&'static str>),
    /// A change to the bytes.
    Byte(ByteOp),
}

fn text_op() -> impl Strategy<Value = TextOp> {
    let tok = prop::sample::select(ODD_TOKENS);
    prop_oneof![
        2 => any::<Index>().prop_map(TextOp::DeleteLine),
        2 => any::<Index>().prop_map(TextOp::DuplicateLine),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| TextOp::SwapLines(a, b)),
        6 => (any::<Index>(), tok.clone()).prop_map(|(i, t)| TextOp::Token(i, t)),
        1 => (any::<Index>(), prop::collection::vec(tok, 1..4)).prop_map(|(i, t)| TextOp::InsertLine(i, t)),
        2 => byte_op().prop_map(TextOp::Byte),
    ]
}

fn is_token_char(c: char) -> bool {
    !c.is_whitespace() && !",=[]{}\"():".contains(c)
}

/// Byte ranges of the tokens of `s`.
fn tokens(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        match (start, is_token_char(c)) {
            (None, true) => start = Some(i),
            (Some(st), false) => {
                out.push((st, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(st) = start {
        out.push((st, s.len()));
    }
    out
}

fn apply_text(text: String, op: &TextOp) -> String {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_owned).collect();
    let n = lines.len();
    match op {
        TextOp::DeleteLine(i) if n > 0 => {
            lines.remove(i.index(n));
        }
        TextOp::DuplicateLine(i) if n > 0 => {
            let k = i.index(n);
            let mut l = lines[k].clone();
            if !l.ends_with('\n') {
                l.push('\n');
                lines[k].push('\n');
            }
            lines.insert(k + 1, l);
        }
        TextOp::SwapLines(a, b) if n > 0 => lines.swap(a.index(n), b.index(n)),
        TextOp::Token(i, t) => {
            let toks = tokens(&text);
            if toks.is_empty() {
                return text;
            }
            let (s, e) = toks[i.index(toks.len())];
            return format!("{}{t}{}", &text[..s], &text[e..]);
        }
        TextOp::InsertLine(i, toks) => {
            let k = i.index(n + 1);
            lines.insert(k, format!("{}\n", toks.join(",")));
        }
        TextOp::Byte(b) => {
            let mut bytes = text.into_bytes();
            apply_byte(&mut bytes, b);
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        _ => {}
    }
    lines.concat()
}

/// A malformed text file: the valid one changed by a few [`TextOp`]s, random
/// text, random bytes, or nothing.
#[derive(Debug, Clone)]
pub enum Text {
    /// These changes, in order.
    Ops(Vec<TextOp>),
    /// This text instead of the file.
    Random(String),
    /// These bytes instead of the file (not UTF-8, mostly).
    Bytes(Vec<u8>),
    /// An empty file.
    Empty,
}

impl Text {
    /// The mutated copy of `valid`.
    pub fn apply(&self, valid: &str) -> Vec<u8> {
        match self {
            Text::Ops(ops) => ops.iter().fold(valid.to_string(), apply_text).into_bytes(),
            Text::Random(s) => s.clone().into_bytes(),
            Text::Bytes(b) => b.clone(),
            Text::Empty => Vec::new(),
        }
    }
}

/// [`Text`] with mostly small changes to the valid file.
pub fn text() -> impl Strategy<Value = Text> {
    prop_oneof![
        14 => prop::collection::vec(text_op(), 1..4).prop_map(Text::Ops),
        1 => "[ -~\n]{0,200}".prop_map(Text::Random),
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Text::Bytes),
        1 => Just(Text::Empty),
    ]
}

/// A JSON value put in place of another.
#[derive(Debug, Clone)]
pub enum Odd {
    /// A number (huge, negative, zero, fractional, tiny).
    Num(f64),
    /// An integer past what 32 or 64 bits hold.
    BigInt(&'static str),
    /// `null`.
    Null,
    /// A string.
    Str(&'static str),
    /// `[]`.
    EmptyArray,
    /// `{}`.
    EmptyObject,
    /// `true`.
    Bool,
}

impl Odd {
    fn value(&self) -> Value {
        match self {
            Odd::Num(v) => serde_json::Number::from_f64(*v).map_or(Value::Null, Value::Number),
            Odd::BigInt(s) => serde_json::from_str(s).unwrap_or(Value::Null),
            Odd::Null => Value::Null,
            Odd::Str(s) => Value::String(s.to_string()),
            Odd::EmptyArray => Value::Array(vec![]),
            Odd::EmptyObject => Value::Object(Default::default()),
            Odd::Bool => Value::Bool(true),
        }
    }
}

fn odd() -> impl Strategy<Value = Odd> {
    prop_oneof![
        4 => prop::sample::select(vec![1e308, -1e308, 1e20, -1.0, 0.0, 0.5, 1.5, 3.0, 1e-320, 4294967296.0, -4294967296.0]).prop_map(Odd::Num),
        2 => prop::sample::select(vec!["18446744073709551615", "9223372036854775808", "4294967296", "100000000000", "-1"]).prop_map(Odd::BigInt),
        1 => Just(Odd::Null),
        2 => prop::sample::select(vec!["", "x", "inf", "NaN", "seqcal-flow/2", "realnvp", "tanh", "logit", "se"]).prop_map(Odd::Str),
        1 => Just(Odd::EmptyArray),
        1 => Just(Odd::EmptyObject),
        1 => Just(Odd::Bool),
    ]
}

/// One change to a JSON tree, at the node a JSON pointer index picks.
#[derive(Debug, Clone)]
pub enum JsonOp {
    /// Replace the node.
    Replace(Index, Odd),
    /// Remove the node from its object or array.
    Remove(Index),
    /// Repeat an array's element (the node) this many times more.
    Repeat(Index, usize),
    /// Cut an array (the node's parent) to this many elements.
    Truncate(Index, usize),
    /// Copy an object's member (the node) under a new name (its name and `_x`).
    Clone(Index),
}

fn json_op() -> impl Strategy<Value = JsonOp> {
    prop_oneof![
        5 => (any::<Index>(), odd()).prop_map(|(i, o)| JsonOp::Replace(i, o)),
        3 => any::<Index>().prop_map(JsonOp::Remove),
        2 => (any::<Index>(), 1usize..40).prop_map(|(i, n)| JsonOp::Repeat(i, n)),
        1 => (any::<Index>(), 0usize..3).prop_map(|(i, n)| JsonOp::Truncate(i, n)),
        1 => any::<Index>().prop_map(JsonOp::Clone),
    ]
}

/// Every node's JSON pointer, in document order (the root excluded).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, c)| {
            let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
            out.push(p.clone());
            pointers(c, p, out);
        }),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, c)| {
            let p = format!("{at}/{i}");
            out.push(p.clone());
            pointers(c, p, out);
        }),
        _ => {}
    }
}

fn split(p: &str) -> (&str, &str) {
    p.rsplit_once('/').unwrap_or(("", p))
}

fn apply_json(v: &mut Value, op: &JsonOp) {
    let mut ps = Vec::new();
    pointers(v, String::new(), &mut ps);
    if ps.is_empty() {
        return;
    }
    let pick = |i: &Index| ps[i.index(ps.len())].clone();
    match op {
        JsonOp::Replace(i, o) => {
            if let Some(n) = v.pointer_mut(&pick(i)) {
                *n = o.value();
            }
        }
        JsonOp::Remove(i) | JsonOp::Repeat(i, _) | JsonOp::Truncate(i, _) | JsonOp::Clone(i) => {
            let p = pick(i);
            let (parent, key) = split(&p);
            let Some(par) = v.pointer_mut(parent) else { return };
            match (par, op) {
                (Value::Object(m), JsonOp::Remove(_)) => {
                    m.remove(&key.replace("~1", "/").replace("~0", "~"));
                }
                (Value::Array(a), JsonOp::Remove(_)) => {
                    if let Ok(k) = key.parse::<usize>() {
                        a.remove(k);
                    }
                }
                (Value::Array(a), JsonOp::Repeat(_, n)) => {
                    if let Ok(k) = key.parse::<usize>() {
                        let e = a[k].clone();
                        for _ in 0..*n {
                            a.insert(k, e.clone());
                        }
                    }
                }
                (Value::Array(a), JsonOp::Truncate(_, n)) => a.truncate(*n),
                (Value::Object(m), JsonOp::Clone(_)) => {
                    let key = key.replace("~1", "/").replace("~0", "~");
                    if let Some(e) = m.get(&key).cloned() {
                        m.insert(format!("{key}_x"), e);
                    }
                }
                _ => {}
            }
        }
    }
}

/// A malformed JSON document: the valid one with a few tree changes (so that
/// it still parses and reaches the checks), or with text changes.
#[derive(Debug, Clone)]
pub enum Json {
    /// Tree changes, in order.
    Tree(Vec<JsonOp>),
    /// Text changes.
    Text(Text),
}

impl Json {
    /// The mutated copy of `valid` (a JSON document).
    pub fn apply(&self, valid: &str) -> Vec<u8> {
        match self {
            Json::Tree(ops) => {
                let mut v: Value = serde_json::from_str(valid).expect("the valid document parses");
                ops.iter().for_each(|op| apply_json(&mut v, op));
                serde_json::to_vec(&v).expect("a JSON tree encodes")
            }
            Json::Text(t) => t.apply(valid),
        }
    }
}

/// [`Json`]: mostly tree changes.
pub fn json() -> impl Strategy<Value = Json> {
    prop_oneof![
        3 => prop::collection::vec(json_op(), 1..4).prop_map(Json::Tree),
        1 => text().prop_map(Json::Text),
    ]
}

/// With `SEQCAL_PROPTEST_SHOW=1`, prints the outcome of a reader on a case
/// (each case is printed by [`check`] before it runs)
/// (`ok`, or the start of its error) to standard error: how deep the
/// generated cases reach (run with `--nocapture`).
pub fn show<T, E: std::fmt::Display>(what: &str, r: &Result<T, E>) {
    if std::env::var("SEQCAL_PROPTEST_SHOW").is_ok_and(|v| v == "1") {
        let outcome = match r {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string().lines().next().unwrap_or_default().chars().take(150).collect(),
        };
        eprintln!("SHOW {what}: {outcome}");
    }
}
