//! Conventions shared by the commands: `-n` means draws, help texts list
//! every move and every flow key the parsers accept.

mod common;

use common::{fails, seqcal, succeeds};

#[test]
fn n_means_draws_and_sample_takes_steps_only_as_steps() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d.h5");
    let cfg = common::example("priors/product.toml");
    succeeds(&["prior", "sample", "--config", cfg.to_str().unwrap(), "-n", "50", "-o", out.to_str().unwrap()]);
    let e = fails(&["sample", "--target", "gaussian:dim=2", "-n", "10", "-q"]);
    assert!(e.contains("'-n'"), "{e}");
    let help = succeeds(&["sample", "--help"]);
    assert!(help.contains("--steps <STEPS>") && !help.contains("-n, --steps"), "{help}");
}

#[test]
fn sample_help_lists_every_move_the_parser_accepts() {
    let help = succeeds(&["sample", "--help"]);
    for m in seqcal::sampler::ensemble::MOVES {
        assert!(help.lines().any(|l| l.trim_start().starts_with(&format!("{} ", m.name))), "move {} missing from:\n{help}", m.name);
        for a in m.aliases {
            assert!(help.contains(a), "alias {a} missing from:\n{help}");
        }
        // Each listed move is accepted.
        seqcal::sampler::ensemble::parse_moves(m.name).unwrap();
    }
    assert!(help.contains("de_jump"), "{help}");
}

#[test]
fn prior_list_lists_every_flow_key() {
    let out = seqcal().args(["prior", "list"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    // The keys listed under the `flow` kind, up to the next kind.
    let mut in_flow = false;
    let mut listed = Vec::new();
    for line in text.lines() {
        if !line.starts_with(' ') {
            in_flow = line.split_whitespace().next() == Some("flow");
            continue;
        }
        if in_flow {
            let key = line.split_whitespace().next().unwrap().to_string();
            listed.push(key);
        }
    }
    for key in seqcal_flow::FlowTable::keys() {
        assert!(listed.iter().any(|k| k == key), "flow key {key} missing from `prior list`:\n{text}");
    }
}

/// Every `seqcal ... --help` text, and the listings of targets and priors.
fn all_help_texts() -> Vec<(String, String)> {
    use clap::CommandFactory;
    fn walk(c: &clap::Command, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(path.clone());
        for sub in c.get_subcommands() {
            path.push(sub.get_name().to_string());
            walk(sub, path, out);
            path.pop();
        }
    }
    let mut paths = Vec::new();
    walk(&seqcal::cli::Cli::command(), &mut Vec::new(), &mut paths);
    let mut texts: Vec<(String, String)> = paths
        .into_iter()
        .filter(|p| p.last().is_none_or(|l| l != "help"))
        .map(|mut p| {
            p.push("--help".into());
            let out = seqcal().args(&p).output().unwrap();
            assert!(out.status.success(), "{p:?}");
            (p.join(" "), String::from_utf8_lossy(&out.stdout).into_owned())
        })
        .collect();
    for args in [["sample", "--list-targets"], ["prior", "list"]] {
        texts.push((args.join(" "), succeeds(&args)));
    }
    texts
}

#[test]
fn help_texts_speak_of_seqcal_and_name_only_paths_in_the_repository() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let texts = all_help_texts();
    assert!(texts.len() > 20, "{} help texts", texts.len());
    for (cmd, text) in &texts {
        let lower = text.to_lowercase();
        for word in ["shared/", "/work/", "../", "issue", "task", "helper", "session"] {
            assert!(!lower.contains(word), "`seqcal {cmd}` mentions {word:?}:\n{text}");
        }
        // Every repository path a help text names exists.
        for token in text.split(|c: char| c.is_whitespace() || "()[]`'\",;".contains(c)) {
            if ["examples/", "docs/", "benches/", "chains/", "scripts/"].iter().any(|d| token.starts_with(d)) {
                let path = token.trim_end_matches(['.', ':']);
                assert!(root.join(path).exists(), "`seqcal {cmd}` names {path}, which is not in the repository");
            }
        }
    }
}
