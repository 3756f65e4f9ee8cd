//! Property-based tests of the protocol's parsers: generated handshake and
//! answer lines (valid ones changed token by token, random text, random
//! bytes through the line reader) give a parse or an error with a message,
//! never a panic; a handshake that parses yields a parameter space and
//! transforms, or an error.
//!
//! Fixed seeds, no persistence file; 384 cases per property (together well
//! under a second).

use std::io::Cursor;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use super::process::{read_line_capped, MAX_LINE};
use super::protocol::{parse_answer, parse_handshake, DimLimit};
use crate::targets::transform::Bijection;

const CASES: u32 = 384;

fn run<S: Strategy>(seed: u8, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let config = Config { cases: CASES, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]));
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

fn no_panic<T>(f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|_| TestCaseError::fail("panicked"))
}

/// Words a handshake is made of, right and wrong.
const WORDS: &[&str] = &[
    "seqcal-target",
    "1",
    "2",
    "3",
    "0",
    "-1",
    "18446744073709551616",
    "1000",
    "a",
    "b",
    "a=b(0,1)",
    "s=sigma(0,inf)",
    "x=y(-inf,2.5e1)",
    "x=y(1,0)",
    "x=y(nan,1)",
    "x=y(0,1e999)",
    "x=(0,1)",
    "=y(0,1)",
    "x=y(0,1",
    "x=y)0,1(",
    "x=y(,)",
    "x=y(()",
    "x=y(0,1))",
    "x=y((0,1)",
    "f(x)",
    "é=ü(0,1)",
    "\u{feff}",
    "\t",
    "",
];

fn handshake_line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(prop::sample::select(WORDS), 0..7).prop_map(|w| w.join(" ")),
        3 => (prop::sample::select(&["1", "2"][..]), 1usize..5, prop::collection::vec(prop::sample::select(WORDS), 0..5))
            .prop_map(|(v, d, w)| format!("seqcal-target {v} {d} {}", w.join(" "))),
        1 => "seqcal-target [0-9 ]{0,30}[a-z=(),.0-9-]{0,40}",
        1 => any::<String>(),
    ]
}

#[test]
fn handshakes_parse_or_are_refused_without_panic() {
    let limit = DimLimit { max: 100, why: Box::new(|d| format!("at most 100 (asked {d})")) };
    run(1, (handshake_line(), prop::option::of(0usize..6)), |(line, expected)| {
        let r = no_panic(|| parse_handshake(&line, expected, &limit))?;
        match r {
            Ok(h) => {
                prop_assert!(!h.params.is_empty() && h.params.len() <= 100);
                prop_assert!(expected.is_none_or(|e| e == h.params.len()));
                // What `external` does with a handshake that parses.
                no_panic(|| {
                    let stored: Vec<String> = h.params.iter().map(|p| p.stored.clone()).collect();
                    let _ = seqcal_api::ParamSpace::new(stored, h.params.iter().map(|p| p.support).collect());
                    for p in &h.params {
                        let _ = Bijection::from_support(p.support.0, p.support.1);
                    }
                })?;
            }
            Err((what, hint)) => prop_assert!(!what.is_empty() && !hint.is_empty()),
        }
        Ok(())
    });
}

fn answer_line() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => any::<f64>().prop_map(|v| v.to_string()),
        2 => prop::sample::select(&["nan", "-inf", "inf", "reject", "1e400", "-1e400", "nan(", "NaN(0x1)", "+-1", "1,5", "", " ", "\r"][..]).prop_map(String::from),
        2 => "[-+]?[0-9.eEinfa()x]{0,12}",
        1 => any::<String>(),
    ]
}

#[test]
fn answers_parse_or_are_refused_without_panic() {
    run(2, answer_line(), |line| {
        match no_panic(|| parse_answer(&line))? {
            Ok(super::protocol::Answer::Value(v)) => prop_assert!(!v.is_nan() && v != f64::INFINITY),
            Ok(super::protocol::Answer::Reject) => {}
            Err((what, hint)) => prop_assert!(!what.is_empty() && !hint.is_empty()),
        }
        Ok(())
    });
}

#[test]
fn the_line_reader_takes_any_bytes() {
    run(3, prop::collection::vec(any::<u8>(), 0..300), |bytes| {
        let mut r = Cursor::new(bytes);
        no_panic(|| {
            let mut n = 0;
            while let Ok(Some(line)) = read_line_capped(&mut r) {
                assert!(line.len() <= 3 * MAX_LINE && !line.contains('\n'));
                n += 1;
                assert!(n <= 301);
            }
        })
    });
}
