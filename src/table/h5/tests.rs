//! Tests of HDF5 tables: reading datasets by name, refusing what is not a table.

use super::*;
use crate::table::read_table_as;

#[test]
fn hdf5_tables_by_default_name_or_explicit_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("runs.h5");
    let design = Array2::from_shape_fn((4, 3), |(i, j)| (i * 3 + j) as f64);
    let outputs = Array2::from_shape_fn((4, 2), |(i, j)| (i + j) as f64 * 0.5);
    let (dn, on) = (vec!["a".to_string(), "b".into(), "c".into()], vec!["y1".to_string(), "y2".into()]);
    write_hdf5_tables(&p, &[("design", &design, &dn), ("outputs", &outputs, &on)]).unwrap();
    let t = read_table_as(&p, &["design"]).unwrap();
    assert_eq!(t.header, dn);
    assert_eq!(t.data, design);
    let spec = format!("{}:outputs", p.display());
    let t = read_table_as(Path::new(&spec), &["design"]).unwrap();
    assert_eq!(t.data, outputs);
    // A missing dataset names the ones there are.
    let e = read_table_as(Path::new(&format!("{}:nope", p.display())), &["design"]).err().unwrap().to_string();
    assert!(e.contains("no dataset 'nope'") && e.contains("design, outputs"), "{e}");
    let e = read_table_as(&p, &["bounds"]).err().unwrap().to_string();
    assert!(e.contains("no dataset 'bounds'"), "{e}");
    // NaN and a 3-D dataset are errors.
    let q = dir.path().join("bad.h5");
    let mut nan = design.clone();
    nan[(2, 1)] = f64::NAN;
    write_hdf5_tables(&q, &[("design", &nan, &dn)]).unwrap();
    let e = read_table_as(&q, &["design"]).err().unwrap().to_string();
    assert!(e.contains("row 3, column 2"), "{e}");
    let f = hdf5::File::open_rw(&q).unwrap();
    f.new_dataset_builder().with_data(&ndarray::Array3::<f64>::zeros((2, 2, 2))).create("cube").unwrap();
    drop(f);
    let e = read_table_as(Path::new(&format!("{}:cube", q.display())), &["x"]).err().unwrap().to_string();
    assert!(e.contains("3 dimensions"), "{e}");
    // CSV still works through the same function.
    let c = dir.path().join("t.csv");
    std::fs::write(&c, "u,v\n1,2\n3,4\n").unwrap();
    assert_eq!(read_table_as(&c, &["design"]).unwrap().header, vec!["u", "v"]);
}
