//! The text of the line protocol: the handshake line, the answer lines, and
//! how a process's output is quoted in error messages.

use std::collections::HashSet;

/// Highest version of the protocol this seqcal speaks (it speaks 1 and 2).
pub const PROTOCOL_VERSION: u32 = 2;

/// First word of the handshake line.
pub const HANDSHAKE_TAG: &str = "seqcal-target";

/// Characters of an offending output line quoted in error messages.
const MAX_QUOTE_CHARS: usize = 200;

/// Characters a version 2 parameter name may not contain.
const RESERVED: [char; 4] = ['=', '(', ')', ','];

pub(super) const HANDSHAKE_FORM: &str = "`seqcal-target 1 DIM [NAME ...]` or `seqcal-target 2 DIM [PARAM ...]`";
pub(super) const HINT_HANDSHAKE: &str =
    "make the model print `seqcal-target 1 DIM [NAME ...]` (or version 2) on its standard output first, and flush it; \
    print diagnostics on standard error (see docs/external-targets.md)";
pub(super) const HINT_SILENT: &str =
    "make the model flush its standard output after each answer (Python: `sys.stdout.flush()`; C: `fflush(stdout)`); \
    if one evaluation really takes that long, raise the timeout";
pub(super) const HINT_ANSWER: &str = "make each answer line one number: the log density, `-inf` for zero density, or `nan` or `reject` \
    for a point the model cannot evaluate; print diagnostics on standard error, not standard output";
pub(super) const HINT_PLUS_INF: &str = "a log density cannot be +inf: answer a finite number, `-inf` for zero density, or `nan` to reject the point";
pub(super) const HINT_EXTRA: &str = "make the model print exactly one answer line per point and nothing else on standard output; \
    print diagnostics on standard error";
const HINT_PARAM: &str = "declare each parameter as NAME, or as SAMPLED=STORED(LO,HI) for one the model receives as SAMPLED and seqcal stores as \
    STORED in (LO, HI), e.g. `log_sigma=sigma(0,inf)`; no blanks inside a declaration (see docs/external-targets.md)";
const HINT_DIM: &str = "check the DIM of the model's handshake line (its third word)";

/// One parameter of an external model, as its handshake declares it.
///
/// The model receives and answers for the coordinate `sampled`; chains store
/// `stored`, with support `support`, reached from `sampled` by the transform
/// the support implies ([`crate::targets::transform::Bijection::from_support`]).
/// Without a declaration (protocol version 1, or a bare name in version 2)
/// both names are the same and the support is the real line.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// Name of the coordinate the model receives.
    pub sampled: String,
    /// Name of the parameter stored in chains.
    pub stored: String,
    /// Support `(lower, upper)` of the stored parameter.
    pub support: (f64, f64),
}

impl Parameter {
    /// True when the stored parameter is the sampled coordinate itself.
    pub fn is_identity(&self) -> bool {
        self.sampled == self.stored && self.support == (f64::NEG_INFINITY, f64::INFINITY)
    }
}

/// A parsed handshake.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Handshake {
    pub version: u32,
    pub params: Vec<Parameter>,
}

/// The largest dimension a handshake may declare, checked before anything is
/// allocated for its parameters.
pub(super) struct DimLimit {
    /// The largest accepted dimension.
    pub max: usize,
    /// Why, given the declared dimension: it follows `declares N parameters
    /// in its handshake; `.
    pub why: Box<dyn Fn(usize) -> String>,
}

/// A parse error: what is wrong and what to do.
pub(super) type ParseError = (String, &'static str);

/// Parses the handshake line.
pub(super) fn parse_handshake(line: &str, expected_dim: Option<usize>, limit: &DimLimit) -> Result<Handshake, ParseError> {
    let line = line.strip_prefix('\u{feff}').unwrap_or(line);
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.first() != Some(&HANDSHAKE_TAG) {
        let what = format!("printed {} as its first line, but the first line must be the handshake {HANDSHAKE_FORM}", quote(line));
        return Err((what, HINT_HANDSHAKE));
    }
    let version = match words.get(1).copied() {
        Some("1") => 1,
        Some("2") => 2,
        None => {
            let what = format!("printed the handshake {} without protocol version and dimension; the form is {HANDSHAKE_FORM}", quote(line));
            return Err((what, HINT_HANDSHAKE));
        }
        Some(other) => {
            let what = format!("speaks protocol version {} (handshake {}), but this seqcal speaks versions 1 and 2", quote(other), quote(line));
            return Err((what, "use a model and a seqcal that speak the same protocol version"));
        }
    };
    let dim_word = words.get(2).copied().unwrap_or("");
    let dim = match dim_word.parse::<usize>() {
        Ok(dim) if dim >= 1 => dim,
        Err(_) if !dim_word.is_empty() && dim_word.bytes().all(|b| b.is_ascii_digit()) => {
            return Err((format!("declares {dim_word} parameters in its handshake, more than this machine can address"), HINT_DIM));
        }
        _ => {
            let what = format!("printed the handshake {}, whose third word must be the number of parameters (at least 1)", quote(line));
            return Err((what, HINT_HANDSHAKE));
        }
    };
    if dim > limit.max {
        return Err((format!("declares {dim} parameters in its handshake; {}", (limit.why)(dim)), HINT_DIM));
    }
    let tokens = &words[3..];
    let params = if tokens.is_empty() {
        (0..dim).map(|i| format!("x{i}")).map(|n| Parameter { sampled: n.clone(), stored: n, support: (f64::NEG_INFINITY, f64::INFINITY) }).collect()
    } else if tokens.len() != dim {
        let what = format!("declares {dim} parameters but names {} in its handshake {}", tokens.len(), quote(line));
        return Err((what, "give no names or exactly one per parameter"));
    } else if version == 1 {
        tokens.iter().map(|w| Parameter { sampled: w.to_string(), stored: w.to_string(), support: (f64::NEG_INFINITY, f64::INFINITY) }).collect()
    } else {
        tokens
            .iter()
            .map(|w| parse_parameter(w))
            .collect::<Result<Vec<_>, String>>()
            .map_err(|what| (format!("{what} in its handshake {}", quote(line)), HINT_PARAM))?
    };
    for names in [params.iter().map(|p| &p.sampled).collect::<Vec<_>>(), params.iter().map(|p| &p.stored).collect()] {
        let mut seen = HashSet::with_capacity(names.len());
        if let Some(twice) = names.into_iter().find(|n| !seen.insert(*n)) {
            let what = format!("names parameter {} twice in its handshake {}", quote(twice), quote(line));
            return Err((what, "give every parameter a different name"));
        }
    }
    if let Some(expected) = expected_dim {
        if expected != dim {
            let names: Vec<&str> = params.iter().map(|p| p.sampled.as_str()).collect();
            let what = format!(
                "declares {dim} parameter{} ({}) in its handshake, but {expected} were expected",
                if dim == 1 { "" } else { "s" },
                names.join(", ")
            );
            return Err((what, "check that the command runs the intended model, or the dimension it is expected to have"));
        }
    }
    Ok(Handshake { version, params })
}

/// Parses a version 2 parameter: `NAME` or `SAMPLED=STORED(LO,HI)`.
fn parse_parameter(token: &str) -> Result<Parameter, String> {
    let bad = |why: &str| format!("parameter {} is not NAME or SAMPLED=STORED(LO,HI): {why}", quote(token));
    let check_name = |name: &str, what: &str| {
        if name.is_empty() {
            Err(bad(&format!("the {what} name is empty")))
        } else if name.contains(RESERVED) {
            Err(bad(&format!("the {what} name {} contains one of = ( ) ,", quote(name))))
        } else {
            Ok(name.to_string())
        }
    };
    let Some((sampled, rest)) = token.split_once('=') else {
        let name = check_name(token, "parameter")?;
        return Ok(Parameter { sampled: name.clone(), stored: name, support: (f64::NEG_INFINITY, f64::INFINITY) });
    };
    let (stored, interval) = match (rest.find('('), rest.strip_suffix(')')) {
        (Some(open), Some(body)) => (&rest[..open], &body[open + 1..]),
        _ => return Err(bad("the support must follow the stored name as (LO,HI)")),
    };
    let (lo, hi) = interval.split_once(',').ok_or_else(|| bad("the support needs two bounds, (LO,HI)"))?;
    let (lo, hi) = (parse_bound(lo).map_err(|e| bad(&e))?, parse_bound(hi).map_err(|e| bad(&e))?);
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    if !(lo < hi) || lo == f64::INFINITY || hi == f64::NEG_INFINITY {
        return Err(bad(&format!("the lower bound {lo} must be below the upper bound {hi}")));
    }
    Ok(Parameter { sampled: check_name(sampled, "sampled")?, stored: check_name(stored, "stored")?, support: (lo, hi) })
}

/// A bound: a finite number, or `inf`/`-inf` (also `infinity`, any case).
fn parse_bound(text: &str) -> Result<f64, String> {
    let lower = text.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Ok(f64::INFINITY),
        "-inf" | "-infinity" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("bound {} is not a finite number, inf or -inf", quote(text))),
    }
}

/// One answer line, parsed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Answer {
    /// A log density, finite or `-inf`.
    Value(f64),
    /// `nan` or `reject`: the point cannot be evaluated.
    Reject,
}

/// Parses one answer line.
pub(super) fn parse_answer(line: &str) -> Result<Answer, ParseError> {
    let text = line.trim();
    let lower = text.to_ascii_lowercase();
    let (negative, unsigned) = match lower.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, lower.strip_prefix('+').unwrap_or(&lower)),
    };
    if lower == "reject" || unsigned == "nan" || (unsigned.starts_with("nan(") && unsigned.ends_with(')')) {
        return Ok(Answer::Reject);
    }
    let plus_inf = || (format!("{} is +infinity, which is not a log density", quote(text)), HINT_PLUS_INF);
    if unsigned == "inf" || unsigned == "infinity" {
        return if negative { Ok(Answer::Value(f64::NEG_INFINITY)) } else { Err(plus_inf()) };
    }
    match text.parse::<f64>() {
        Ok(v) if v == f64::INFINITY => Err(plus_inf()),
        Ok(v) if v.is_nan() => Ok(Answer::Reject),
        Ok(v) => Ok(Answer::Value(v)),
        Err(_) => Err((format!("{} is not a number", quote(text)), HINT_ANSWER)),
    }
}

/// `line` cut to `max` characters.
pub(super) fn clip(line: &str, max: usize) -> String {
    match line.char_indices().nth(max) {
        Some((end, _)) => format!("{}...", &line[..end]),
        None => line.to_string(),
    }
}

/// `'text'`, escaped and cut short, for quoting the process's output.
pub(super) fn quote(text: &str) -> String {
    format!("'{}'", clip(text, MAX_QUOTE_CHARS).escape_debug())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INF: f64 = f64::INFINITY;

    fn no_limit() -> DimLimit {
        DimLimit { max: usize::MAX, why: Box::new(|_| String::new()) }
    }

    fn parse(line: &str, expected: Option<usize>) -> Result<Handshake, ParseError> {
        parse_handshake(line, expected, &no_limit())
    }

    fn sampled(h: &Handshake) -> Vec<&str> {
        h.params.iter().map(|p| p.sampled.as_str()).collect()
    }

    #[test]
    fn version_1_handshakes() {
        let h = parse("seqcal-target 1 2", None).unwrap();
        assert_eq!((h.version, sampled(&h)), (1, vec!["x0", "x1"]));
        assert!(h.params.iter().all(Parameter::is_identity));
        assert_eq!(sampled(&parse("\u{feff}seqcal-target  1 2 mass\tradius \r", Some(2)).unwrap()), ["mass", "radius"]);
        // Version 1 takes names as they are, declarations included.
        let h = parse("seqcal-target 1 1 s=sigma(0,inf)", None).unwrap();
        assert!(h.params[0].is_identity() && h.params[0].sampled == "s=sigma(0,inf)");
        let msg = |line: &str| parse(line, None).unwrap_err().0;
        assert!(msg("Seqcal-target 1 2").contains("first line must be the handshake"));
        assert!(msg("").contains("printed '' as its first line"));
        assert!(msg("seqcal-target").contains("without protocol version"));
        assert!(msg("seqcal-target 1").contains("number of parameters"));
        assert!(msg("seqcal-target 1 0").contains("at least 1"));
        assert!(msg("seqcal-target 1 -2").contains("number of parameters"));
        assert!(msg("seqcal-target 1 two").contains("number of parameters"));
        assert!(msg("seqcal-target 1 2 a").contains("declares 2 parameters but names 1"));
        assert!(msg("seqcal-target 1 2 a b c").contains("names 3"));
        assert!(msg("seqcal-target 1 3 a b a").contains("names parameter 'a' twice"));
        assert!(msg("seqcal-target 1.0 2").contains("version '1.0'"));
        assert!(msg("seqcal-target 3 2").contains("speaks versions 1 and 2"));
        assert!(msg("seqcal-target 1 99999999999999999999999999").contains("more than this machine can address"));
        assert!(parse("seqcal-target 1 2", Some(3)).unwrap_err().0.contains("but 3 were expected"));
    }

    #[test]
    fn version_2_declares_supports_and_stored_names() {
        let h = parse("seqcal-target 2 4 mu log_sigma=sigma(0,inf) logit_eff=eff(0,1) z=cut(-Infinity,2.5e1)", Some(4)).unwrap();
        assert_eq!(h.version, 2);
        let want = [("mu", "mu", (-INF, INF)), ("log_sigma", "sigma", (0.0, INF)), ("logit_eff", "eff", (0.0, 1.0)), ("z", "cut", (-INF, 25.0))];
        for (p, (s, t, sup)) in h.params.iter().zip(want) {
            assert_eq!((p.sampled.as_str(), p.stored.as_str(), p.support), (s, t, sup));
        }
        assert!(h.params[0].is_identity() && !h.params[1].is_identity());
        // A renamed unbounded parameter is not the identity (its stored name differs).
        assert!(!parse("seqcal-target 2 1 a=b(-inf,inf)", None).unwrap().params[0].is_identity());
        assert_eq!(sampled(&parse("seqcal-target 2 2", None).unwrap()), ["x0", "x1"]);
        let msg = |line: &str| {
            let (what, hint) = parse(line, None).unwrap_err();
            assert!(what.contains("in its handshake"), "{what}");
            (what, hint)
        };
        for (line, part) in [
            ("seqcal-target 2 1 s=sigma", "(LO,HI)"),
            ("seqcal-target 2 1 s=sigma(0)", "two bounds"),
            ("seqcal-target 2 1 s=sigma(0,inf", "(LO,HI)"),
            ("seqcal-target 2 1 s=sigma(1,0)", "must be below"),
            ("seqcal-target 2 1 s=sigma(inf,inf)", "must be below"),
            ("seqcal-target 2 1 s=sigma(0,nan)", "'nan' is not a finite number"),
            ("seqcal-target 2 1 s=sigma(0,1e999)", "'1e999' is not a finite number"),
            ("seqcal-target 2 1 =sigma(0,1)", "sampled name is empty"),
            ("seqcal-target 2 1 s=(0,1)", "stored name is empty"),
            ("seqcal-target 2 1 s=a=b(0,1)", "contains one of"),
            ("seqcal-target 2 1 f(x)", "contains one of"),
        ] {
            let (what, hint) = msg(line);
            assert!(what.contains(part) && hint == HINT_PARAM, "{line}: {what}");
        }
        assert!(msg("seqcal-target 2 2 a=s(0,1) b=s(0,2)").0.contains("names parameter 's' twice"));
        assert!(msg("seqcal-target 2 2 a=s(0,1) a=t(0,2)").0.contains("names parameter 'a' twice"));
    }

    #[test]
    fn a_dimension_over_the_limit_is_refused_before_any_name_is_made() {
        let limit = DimLimit { max: 1000, why: Box::new(|dim| format!("at most 1000 fit (asked {dim})")) };
        let (what, hint) = parse_handshake("seqcal-target 1 1000000000000", None, &limit).unwrap_err();
        assert_eq!(what, "declares 1000000000000 parameters in its handshake; at most 1000 fit (asked 1000000000000)");
        assert_eq!(hint, HINT_DIM);
        assert_eq!(parse_handshake("seqcal-target 2 1000", None, &limit).unwrap().params.len(), 1000);
    }

    #[test]
    fn answer_parsing() {
        let value = |s: &str| match parse_answer(s) {
            Ok(Answer::Value(v)) => v,
            other => panic!("{s:?}: {other:?}"),
        };
        assert_eq!(value("-12.5"), -12.5);
        assert_eq!(value(" 3e-4\r"), 3e-4);
        assert_eq!(value("+1"), 1.0);
        assert_eq!(value("-0.1"), -0.1);
        for s in ["-inf", "-INF", "-Inf", "-infinity", "-Infinity", "-1e400"] {
            assert_eq!(value(s), f64::NEG_INFINITY, "{s}");
        }
        for s in ["nan", "NaN", "-nan", "+nan", "NAN", "nan(0x8000000000000)", "-nan(ind)", "reject", "REJECT", " nan "] {
            assert_eq!(parse_answer(s), Ok(Answer::Reject), "{s}");
        }
        for s in ["inf", "+inf", "Infinity", "1e400"] {
            let (msg, hint) = parse_answer(s).unwrap_err();
            assert!(msg.contains("+infinity") && hint == HINT_PLUS_INF, "{s}: {msg}");
        }
        for s in ["abc", "", "1.0 2.0", "1,5", "0x10", "nan(", "rejected", "--1"] {
            let (msg, hint) = parse_answer(s).unwrap_err();
            assert!(msg.ends_with("is not a number") && hint == HINT_ANSWER, "{s}: {msg}");
        }
        assert_eq!(parse_answer("abc").unwrap_err().0, "'abc' is not a number");
    }

    #[test]
    fn quoting() {
        assert_eq!(clip("héllo", 2), "hé...");
        assert_eq!(quote("a'b\n"), "'a\\'b\\n'");
    }
}
