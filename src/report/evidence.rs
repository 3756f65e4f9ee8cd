//! The evidence through a staged calibration: log Z of every stage that has
//! one (SMC stages), the check that a sequential chain's evidences add up to
//! the joint's, and the tension between data sets.
//!
//! For a sequential chain A → B|A (B's prior a flow trained on A's chain),
//! `log Z_A + log Z_{B|A}` estimates the evidence of A and B together under
//! A's prior: it must match `log Z_joint` of a stage that uses both data sets
//! under that same prior, within the standard errors. A sequential result
//! whose evidence does not add up has lost information on the way (a flow
//! prior that missed mass, a mode dropped).
//!
//! For two stages A and B on disjoint data sets under the same prior and a
//! stage on both, `log R = log Z_{A+B} − log Z_A − log Z_B` measures their
//! agreement: positive, the data sets support each other; negative, they pull
//! apart (on Jeffreys' scale, below −1 substantial, below −2.5 strong, below
//! −5 decisive tension). The largest difference of their posterior means, in
//! combined standard deviations, says the same in the parameters' terms.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use super::StageRecord;

/// log Z of one stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageEvidence {
    /// Stage name.
    pub stage: String,
    /// Its data sets.
    pub datasets: Vec<String>,
    /// log Z.
    pub log_z: f64,
    /// Its standard error.
    pub log_z_err: f64,
}

/// The check `log Z_joint ≈ Σ log Z` along a sequential chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SequentialCheck {
    /// The stages of the chain, from the first (its own prior) to the last.
    pub chain: Vec<String>,
    /// The stage on every data set of the chain at once.
    pub joint: String,
    /// Sum of the chain's log Z.
    pub log_z_sum: f64,
    /// Its standard error.
    pub log_z_sum_err: f64,
    /// log Z of the joint stage.
    pub log_z_joint: f64,
    /// Its standard error.
    pub log_z_joint_err: f64,
    /// `log_z_sum − log_z_joint`.
    pub difference: f64,
    /// Its standard error (the two errors combined).
    pub difference_err: f64,
    /// `|difference| / difference_err`.
    pub sigma: f64,
    /// Whether the evidences agree within 3 standard errors.
    pub consistent: bool,
}

/// The tension between two data sets (or groups of them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tension {
    /// The stage on the first data sets.
    pub a: String,
    /// The stage on the second data sets.
    pub b: String,
    /// The stage on both.
    pub joint: String,
    /// `log Z_joint − log Z_a − log Z_b`.
    pub log_r: f64,
    /// Its standard error.
    pub log_r_err: f64,
    /// The largest `|mean_a − mean_b| / sqrt(sd_a² + sd_b²)` over the parameters.
    pub mean_shift_sd: f64,
    /// In words, on Jeffreys' scale.
    pub verdict: String,
}

/// Everything the report says about the evidence.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evidence {
    /// Every stage with a log Z.
    pub stages: Vec<StageEvidence>,
    /// Every sequential chain with a joint stage to check it against.
    pub sequential: Vec<SequentialCheck>,
    /// Every pair of stages with a joint stage.
    pub tensions: Vec<Tension>,
}

fn z(r: &StageRecord) -> Option<(f64, f64)> {
    Some((r.log_z?, r.log_z_err.unwrap_or(f64::NAN)))
}

impl Evidence {
    /// The evidence of `stages`; `depends_on` names, per stage, the stages its
    /// prior is trained on.
    pub fn compute(stages: &[&StageRecord], depends_on: &BTreeMap<String, BTreeSet<String>>) -> Evidence {
        let by_name: BTreeMap<&str, &StageRecord> = stages.iter().map(|r| (r.name.as_str(), *r)).collect();
        let deps = |n: &str| depends_on.get(n).cloned().unwrap_or_default();
        let mut out = Evidence::default();
        for r in stages {
            if let Some((lz, e)) = z(r) {
                out.stages.push(StageEvidence { stage: r.name.clone(), datasets: r.datasets.clone(), log_z: lz, log_z_err: e });
            }
        }
        // Independent stages: their own prior, no stage before them.
        let roots: Vec<&StageRecord> = stages.iter().copied().filter(|r| deps(&r.name).is_empty() && z(r).is_some()).collect();
        let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<String>>();
        let joint_of = |data: &BTreeSet<String>, prior: &str, not: &[&str]| {
            roots.iter().copied().find(|j| set(&j.datasets) == *data && j.prior == prior && !not.contains(&j.name.as_str()))
        };
        // Sequential chains: follow single dependencies back to a root.
        for r in stages {
            let mut chain = vec![*r];
            let mut cur = *r;
            loop {
                let d = deps(&cur.name);
                if d.len() != 1 {
                    break;
                }
                let Some(prev) = d.iter().next().and_then(|n| by_name.get(n.as_str())) else { break };
                chain.push(prev);
                cur = prev;
            }
            if chain.len() < 2 || !deps(&cur.name).is_empty() || chain.iter().any(|c| z(c).is_none()) {
                continue;
            }
            chain.reverse();
            let data: BTreeSet<String> = chain.iter().flat_map(|c| c.datasets.iter().cloned()).collect();
            let names: Vec<&str> = chain.iter().map(|c| c.name.as_str()).collect();
            let Some(j) = joint_of(&data, &chain[0].prior, &names) else { continue };
            let (sum, var) = chain.iter().filter_map(|c| z(c)).fold((0.0, 0.0), |(s, v), (lz, e)| (s + lz, v + e * e));
            let (jz, je) = z(j).unwrap_or((f64::NAN, f64::NAN));
            let diff = sum - jz;
            let err = (var + je * je).sqrt();
            let sigma = diff.abs() / err;
            out.sequential.push(SequentialCheck {
                chain: names.iter().map(|s| s.to_string()).collect(),
                joint: j.name.clone(),
                log_z_sum: sum,
                log_z_sum_err: var.sqrt(),
                log_z_joint: jz,
                log_z_joint_err: je,
                difference: diff,
                difference_err: err,
                sigma,
                consistent: sigma <= 3.0,
            });
        }
        // Tensions: two roots on disjoint data sets and a root on both.
        for (i, a) in roots.iter().enumerate() {
            for b in &roots[i + 1..] {
                let (da, db) = (set(&a.datasets), set(&b.datasets));
                if !da.is_disjoint(&db) || a.prior != b.prior {
                    continue;
                }
                let both: BTreeSet<String> = da.union(&db).cloned().collect();
                let Some(j) = joint_of(&both, &a.prior, &[]) else { continue };
                let ((za, ea), (zb, eb), (zj, ej)) = (z(a).unwrap_or_default(), z(b).unwrap_or_default(), z(j).unwrap_or_default());
                let log_r = zj - za - zb;
                let shift = a
                    .mean
                    .iter()
                    .zip(&b.mean)
                    .zip(a.sd.iter().zip(&b.sd))
                    .map(|((ma, mb), (sa, sb))| (ma - mb).abs() / (sa * sa + sb * sb).sqrt())
                    .fold(0.0, f64::max);
                out.tensions.push(Tension {
                    a: a.name.clone(),
                    b: b.name.clone(),
                    joint: j.name.clone(),
                    log_r,
                    log_r_err: (ea * ea + eb * eb + ej * ej).sqrt(),
                    mean_shift_sd: shift,
                    verdict: jeffreys(log_r).into(),
                });
            }
        }
        out
    }

    /// Whether there is anything to report.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// The part of the evidence about stages `a` and `b` (for their entry in
    /// `compare.json`): their log Z, the sequential checks and tensions that
    /// involve both.
    pub fn for_pair(&self, a: &str, b: &str) -> serde_json::Value {
        let one = |n: &str| self.stages.iter().find(|s| s.stage == n);
        let seq: Vec<&SequentialCheck> = self
            .sequential
            .iter()
            .filter(|c| (c.chain.last().is_some_and(|l| l == a) && c.joint == b) || (c.chain.last().is_some_and(|l| l == b) && c.joint == a))
            .collect();
        let ten: Vec<&Tension> = self.tensions.iter().filter(|t| [&t.a, &t.b, &t.joint].iter().any(|n| *n == a || *n == b)).collect();
        serde_json::json!({ "a": one(a), "b": one(b), "sequential": seq, "tensions": ten })
    }

    /// The `## Evidence` section of `summary.md` (empty when no stage has a log Z).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        if self.is_empty() {
            return s;
        }
        let _ = writeln!(s, "\n## Evidence\n\n| stage | data sets | log Z |\n|---|---|---|");
        for e in &self.stages {
            let _ = writeln!(s, "| {} | {} | {:.3} ± {:.3} |", e.stage, e.datasets.join(" + "), e.log_z, e.log_z_err);
        }
        if !self.sequential.is_empty() {
            let _ = writeln!(s, "\n**Sequential chains** (Σ log Z along the chain should equal the joint's):\n");
            let _ = writeln!(s, "| chain | joint | Σ log Z | log Z joint | difference | verdict |\n|---|---|---|---|---|---|");
            for c in &self.sequential {
                let verdict = if c.consistent {
                    format!("consistent ({:.1} sd)", c.sigma)
                } else {
                    format!("NOT consistent ({:.1} sd): the sequential stages lost information", c.sigma)
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.3} ± {:.3} | {:.3} ± {:.3} | {:+.3} ± {:.3} | {verdict} |",
                    c.chain.join(" → "),
                    c.joint,
                    c.log_z_sum,
                    c.log_z_sum_err,
                    c.log_z_joint,
                    c.log_z_joint_err,
                    c.difference,
                    c.difference_err
                );
            }
        }
        for t in &self.tensions {
            let _ = writeln!(
                s,
                "\n**Tension between {} and {}:** log Z({}) − log Z({}) − log Z({}) = {:+.2} ± {:.2}: {}; their posterior means differ by up to {:.1} sd.",
                t.a, t.b, t.joint, t.a, t.b, t.log_r, t.log_r_err, t.verdict, t.mean_shift_sd
            );
        }
        s
    }
}

/// Jeffreys' scale for `log R`.
fn jeffreys(log_r: f64) -> &'static str {
    match log_r {
        r if r >= 0.0 => "the data sets agree (they support each other)",
        r if r > -1.0 => "no significant tension",
        r if r > -2.5 => "substantial tension",
        r if r > -5.0 => "strong tension",
        _ => "decisive tension",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, data: &[&str], prior: &str, z: f64, e: f64, mean: f64) -> StageRecord {
        let mut r: StageRecord = serde_json::from_value(serde_json::json!({
            "name": name, "hash": "", "datasets": data, "prior": prior, "walkers": 1, "steps": 1, "burn": 0, "seed": 0,
            "moves": "", "flow_seconds": 0.0, "sample_seconds": 0.0, "evaluations": 0, "acceptance": 0.0,
            "mean": [mean], "sd": [1.0], "tau": [1.0], "ess": [1.0], "rhat": [1.0], "stranded_walkers": 0, "mode_loss": null
        }))
        .unwrap();
        r.log_z = Some(z);
        r.log_z_err = Some(e);
        r
    }

    #[test]
    fn sequential_sums_and_tensions_are_found_and_judged() {
        let a = rec("A", &["A"], "uniform", -3.0, 0.1, 0.0);
        let b = rec("B", &["B"], "uniform", -4.0, 0.1, 4.0);
        let ab = rec("A_then_B", &["B"], "flow from A", -5.0, 0.1, 2.0);
        let joint = rec("joint", &["A", "B"], "uniform", -7.4, 0.1, 2.0);
        let deps = BTreeMap::from([("A_then_B".to_string(), BTreeSet::from(["A".to_string()]))]);
        let e = Evidence::compute(&[&a, &b, &ab, &joint], &deps);
        assert_eq!(e.stages.len(), 4);
        let c = &e.sequential[0];
        assert_eq!((c.chain.clone(), c.joint.as_str()), (vec!["A".to_string(), "A_then_B".to_string()], "joint"));
        assert!((c.difference + 0.6).abs() < 1e-12 && !c.consistent, "{c:?}");
        let t = &e.tensions[0];
        assert_eq!((t.a.as_str(), t.b.as_str(), t.joint.as_str()), ("A", "B", "joint"));
        assert!((t.log_r + 0.4).abs() < 1e-12 && t.verdict == "no significant tension", "{t:?}");
        assert!((t.mean_shift_sd - 4.0 / 2f64.sqrt()).abs() < 1e-12);
        let md = e.markdown();
        assert!(md.contains("NOT consistent (3.5 sd)") && md.contains("Tension between A and B"), "{md}");
        // Within 3 standard errors the sum is consistent.
        let joint = rec("joint", &["A", "B"], "uniform", -7.8, 0.1, 2.0);
        let e = Evidence::compute(&[&a, &b, &ab, &joint], &deps);
        assert!(e.sequential[0].consistent, "{:?}", e.sequential[0]);
        assert_eq!(e.tensions[0].verdict, "no significant tension");
        let far = rec("joint", &["A", "B"], "uniform", -10.0, 0.1, 2.0);
        assert_eq!(Evidence::compute(&[&a, &b, &far], &deps).tensions[0].verdict, "strong tension");
        // A joint under another prior is no check; stages without log Z give nothing.
        let other = rec("joint", &["A", "B"], "normal", -7.8, 0.1, 2.0);
        assert!(Evidence::compute(&[&a, &b, &ab, &other], &deps).sequential.is_empty());
        let mut none = a.clone();
        none.log_z = None;
        assert!(Evidence::compute(&[&none], &deps).is_empty());
    }
}
