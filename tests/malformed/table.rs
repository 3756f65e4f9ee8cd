//! Numeric tables: CSV (designs, outputs, data, bounds, points) and HDF5
//! datasets read as tables.

use std::path::Path;

use proptest::prelude::*;
use proptest::sample::select;
use seqcal::table::{read_csv, read_table_as, Table, Values};

use crate::h5ops::{self, H5Op};
use crate::mutate::{check, no_panic, show, text, Text};
use crate::{at_the_cli, cases, fixtures_dir};

/// Valid CSV tables the mutations start from.
const CSV: &[&str] =
    &["a,b,c\n0.1,0.2,0.3\n1,2,3\n-4e-3,5,6.5\n", "value,error\n1.5,0.1\n2,0.2\n-3,0.05\n", "lower,upper\n0,1\n-2,2\n", " x1 , y1\n1, 2\n3,4e-1\n"];

/// Everything a caller does with a table once read.
/// (Callers name a few columns: a file's header may hold a million.)
fn use_table(t: &Table) {
    let names: Vec<String> = t.header.iter().take(16).cloned().collect();
    let _ = t.select(&names, "the columns");
    let _ = t.select(&["a".to_string(), "b".to_string()], "the parameters");
    let _ = t.check_columns(&["value"], &["error"], "the data's columns");
    for name in &names {
        let _ = t.column(name);
    }
    let _ = t.line_of(t.data.nrows());
}

fn read_all(p: &Path) {
    for values in [Values::Finite, Values::Any] {
        let r = read_csv(p, values);
        show("csv table", &r);
        if let Ok(t) = r {
            use_table(&t);
        }
    }
    if let Ok(t) = read_table_as(p, &["design"]) {
        use_table(&t);
    }
}

#[test]
fn csv_tables_never_panic() {
    let dir = fixtures_dir();
    let p = dir.path().join("t.csv");
    check("csv_tables", cases(256), (select(CSV), text()), |(valid, m): (&str, Text)| {
        std::fs::write(&p, m.apply(valid)).unwrap();
        no_panic("reading a CSV table", || read_all(&p))
    });
}

/// A valid HDF5 file of tables: `design` (4 × 3, named columns), `outputs`
/// (4 × 2, named), `plain` (1-D, no names).
fn tables_file(p: &Path) {
    let design = ndarray::Array2::from_shape_fn((4, 3), |(i, j)| (i * 3 + j) as f64 * 0.1);
    let outputs = ndarray::Array2::from_shape_fn((4, 2), |(i, j)| (i + j) as f64);
    let dn: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    let on: Vec<String> = ["y1", "y2"].map(String::from).to_vec();
    seqcal::table::write_hdf5_tables(p, &[("design", &design, &dn), ("outputs", &outputs, &on)]).unwrap();
    let f = hdf5::File::open_rw(p).unwrap();
    f.new_dataset_builder().with_data(&ndarray::arr1(&[1.0, 2.0, 3.0])).create("plain").unwrap();
    f.close().unwrap();
}

const DATASETS: &[&str] = &["design", "outputs", "plain"];
const ATTRS: &[(&str, &str)] = &[("design", "columns"), ("outputs", "columns"), ("plain", "names"), ("design", "column_names"), ("/", "columns")];

#[test]
fn hdf5_tables_never_panic_nor_believe_claimed_shapes() {
    let dir = fixtures_dir();
    let valid = dir.path().join("valid.h5");
    tables_file(&valid);
    let p = dir.path().join("t.h5");
    let specs = [p.display().to_string(), format!("{}:outputs", p.display()), format!("{}:plain", p.display())];
    let ops = prop::collection::vec(h5ops::op(DATASETS, ATTRS), 1..4);
    check("hdf5_tables", cases(96), ops, |ops: Vec<H5Op>| {
        std::fs::copy(&valid, &p).unwrap();
        ops.iter().for_each(|op| h5ops::apply(&p, op));
        no_panic("reading an HDF5 table", || {
            for s in &specs {
                let r = read_table_as(Path::new(s), &["design"]);
                show("hdf5 table", &r);
                if let Ok(t) = r {
                    use_table(&t);
                }
            }
        })
    });
}

/// A dataset whose shape is past any memory (nothing written: the file is
/// small) is refused before its values are read.
#[test]
fn an_hdf5_table_claiming_a_huge_shape_is_refused() {
    let dir = fixtures_dir();
    let p = dir.path().join("t.h5");
    tables_file(&p);
    h5ops::apply(&p, &H5Op::Dataset("design", h5ops::Ds::Sparse(vec![1 << 40, 3])));
    let e = read_table_as(&p, &["design"]).unwrap_err().to_string();
    assert!(e.contains("t.h5") && e.contains("design") && e.contains("memory"), "{e}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `emulator predict` on malformed points (CSV, HDF5): exit 0, or 2 with one message.
#[test]
fn malformed_tables_at_the_cli() {
    let dir = fixtures_dir();
    let emu = dir.path().join("emu.json");
    std::fs::write(&emu, crate::emulator::valid_emulator()).unwrap();
    let out = dir.path().join("out.csv");
    let p = dir.path().join("points.csv");
    check("csv_tables_cli", cases(12), text(), |m: Text| {
        std::fs::write(&p, m.apply("a,b\n0.5,0.1\n0.2,-0.3\n")).unwrap();
        let refused = read_table_as(&p, &["points"]).and_then(|t| t.select(&["a".into(), "b".into()], "x")).is_err();
        let _ = std::fs::remove_file(&out);
        at_the_cli(&["emulator", "predict", s(&emu), s(&p), "-o", s(&out)], refused)
    });
    let valid = dir.path().join("valid.h5");
    let points = ndarray::arr2(&[[0.5, 0.1], [0.2, -0.3]]);
    seqcal::table::write_hdf5_tables(&valid, &[("points", &points, &["a".to_string(), "b".to_string()])]).unwrap();
    let h = dir.path().join("points.h5");
    let spec = format!("{}:points", h.display());
    let ops = prop::collection::vec(h5ops::op(&["points"], &[("points", "columns"), ("points", "names")]), 1..3);
    check("hdf5_tables_cli", cases(12), ops, |ops: Vec<H5Op>| {
        std::fs::copy(&valid, &h).unwrap();
        ops.iter().for_each(|op| h5ops::apply(&h, op));
        let refused = read_table_as(Path::new(&spec), &["points"]).and_then(|t| t.select(&["a".into(), "b".into()], "x")).is_err();
        let _ = std::fs::remove_file(&out);
        at_the_cli(&["emulator", "predict", s(&emu), &spec, "-o", s(&out)], refused)
    });
}

/// A header of a million columns (8 MB) is checked for repeated names in
/// linear time (a scan of the names before each one took hours) and read.
#[test]
fn a_header_of_a_million_columns_is_read() {
    let dir = fixtures_dir();
    let p = dir.path().join("wide.csv");
    let n = 1_000_000;
    let header: Vec<String> = (0..n).map(|j| format!("c{j}")).collect();
    let row = vec!["1"; n].join(",");
    std::fs::write(&p, format!("{}\n{row}\n", header.join(","))).unwrap();
    let t = read_csv(&p, Values::Finite).unwrap();
    assert_eq!(t.data.dim(), (1, n));
    std::fs::write(&p, format!("{},c5\n{row},1\n", header.join(","))).unwrap();
    let e = read_csv(&p, Values::Finite).unwrap_err().to_string();
    assert!(e.contains("line 1: two columns are named \"c5\""), "{e}");
}
