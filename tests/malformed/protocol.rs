//! External models (`cmd:`) whose handshake or answers are malformed, at the
//! command line (the parsers themselves have property tests inside the crate).

use proptest::prelude::*;
use proptest::sample::select;

use crate::mutate::check;
use crate::{at_the_cli, cases, fixtures_dir};

/// Words of handshake lines, right and wrong.
const WORDS: &[&str] =
    &["seqcal-target", "1", "2", "7", "0", "-1", "99999999999999999999", "1e3", "a", "a=b(0,1)", "s=t(1,0)", "x=y(0,", "f(x)", "=q(0,1)", "é"];

/// Answer lines, right and wrong.
const ANSWERS: &[&str] = &["-1.5", "-inf", "inf", "nan", "reject", "1e999", "x", "", "1 2", "0x10", "-0", "é"];

/// A model that prints `handshake`, then answers every point with `answer`.
fn model(handshake: &str, answer: &str) -> String {
    format!(
        "cmd:printf '%s\\n' '{handshake}'; while read n; do i=0; while [ $i -lt $n ]; do read x; printf '%s\\n' '{answer}'; i=$((i+1)); done; done"
    )
}

#[test]
fn malformed_handshakes_and_answers_at_the_cli() {
    let dir = fixtures_dir();
    let prior = dir.path().join("prior.toml");
    std::fs::write(&prior, "kind = \"normal\"\nmean = 0\nsd = 1\n").unwrap();
    let out = dir.path().join("out.h5");
    let handshake = prop_oneof![
        prop::collection::vec(select(WORDS), 0..6).prop_map(|w| w.join(" ")),
        (select(&["1", "2"][..]), prop::collection::vec(select(WORDS), 0..3)).prop_map(|(v, w)| format!("seqcal-target {v} 1 {}", w.join(" "))),
    ];
    check("protocol_cli", cases(16), (handshake, select(ANSWERS)), |(h, a): (String, &str)| {
        let target = model(&h, a);
        let args = ["sample", "--target", &target, "--prior", prior.to_str().unwrap(), "--walkers", "4", "--steps", "3", "--quiet", "--force"];
        at_the_cli(&[&args[..], &["-o", out.to_str().unwrap()]].concat(), false)
    });
    // A wrong answer after a right handshake is one message naming the answer.
    for a in ["inf", "x", "1 2", ""] {
        let target = model("seqcal-target 1 1", a);
        let args = ["sample", "--target", &target, "--prior", prior.to_str().unwrap(), "--walkers", "4", "--steps", "3", "--quiet", "--force"];
        at_the_cli(&[&args[..], &["-o", out.to_str().unwrap()]].concat(), true).unwrap();
    }
}
