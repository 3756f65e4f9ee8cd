//! Structural damage to HDF5 files, done with the hdf5 crate: missing
//! datasets and attributes, attributes of the wrong type or value, datasets
//! of the wrong rank, shape or type, datasets claiming huge shapes (chunked,
//! nothing written, so the file stays small), and NaN or infinity written
//! into values.

use std::path::Path;
use std::str::FromStr;

use hdf5::types::VarLenUnicode;
use proptest::prelude::*;
use proptest::sample::{select, Index};

/// A dataset put in place of another.
#[derive(Debug, Clone)]
pub enum Ds {
    /// f64 of this shape, all this value.
    F64(Vec<usize>, f64),
    /// i32 of this shape.
    I32(Vec<usize>),
    /// Strings, this many.
    Str(usize),
    /// f64 of this (huge) shape, chunked, nothing written.
    Sparse(Vec<usize>),
}

/// One change to an HDF5 file. Objects and names are paths inside the file.
#[derive(Debug, Clone)]
pub enum H5Op {
    /// Remove a dataset or group.
    Unlink(&'static str),
    /// Remove an attribute of an object.
    RemoveAttr(&'static str, &'static str),
    /// Set an attribute to an integer.
    Int(&'static str, &'static str, i64),
    /// Set an attribute to a float.
    Float(&'static str, &'static str, f64),
    /// Set an attribute to a string.
    Str(&'static str, &'static str, &'static str),
    /// Set an attribute to a list of strings.
    StrList(&'static str, &'static str, Vec<&'static str>),
    /// Set an attribute to an f64 array of this shape, all this value.
    Array(&'static str, &'static str, Vec<usize>, f64),
    /// Replace a dataset.
    Dataset(&'static str, Ds),
    /// Write a value into an f64 dataset at a position (flat index).
    Poke(&'static str, Index, f64),
}

/// Sizes that are wrong in every way: zero, one, off by one of the valid
/// ones, and far past any memory.
pub const SIZES: &[usize] = &[0, 1, 2, 3, 4, 5, 7, 1 << 20, 1 << 40, 1 << 62];

/// Integers for count attributes.
pub const INTS: &[i64] = &[-1, 0, 1, 2, 3, 5, 100, 1 << 31, 1 << 40, i64::MAX];

/// Values that are not valid draws, densities or weights.
pub const ODD_F64: &[f64] = &[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0, 1e308, -1e308];

fn shape(max_rank: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(select(&SIZES[..7]), 0..=max_rank)
}

fn huge_shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(select(SIZES), 1..=3).prop_filter("huge", |s| s.iter().any(|&d| d >= 1 << 20) && !s.contains(&0))
}

fn ds() -> impl Strategy<Value = Ds> {
    prop_oneof![
        3 => (shape(3), select(ODD_F64)).prop_map(|(s, v)| Ds::F64(s, v)),
        1 => shape(3).prop_map(Ds::I32),
        1 => (0usize..4).prop_map(Ds::Str),
        2 => huge_shape().prop_map(Ds::Sparse),
    ]
}

/// Changes to the datasets and the attributes (object, name) named.
pub fn op(datasets: &'static [&'static str], attrs: &'static [(&'static str, &'static str)]) -> impl Strategy<Value = H5Op> {
    let (d, a) = (select(datasets), select(attrs));
    let words = select(vec!["", "x", "a", "b", "x0", "log_prob", "iteration", "ensemble-v1", "seqcal 0.1.0"]);
    prop_oneof![
        2 => d.clone().prop_map(H5Op::Unlink),
        2 => a.clone().prop_map(|(o, a)| H5Op::RemoveAttr(o, a)),
        3 => (a.clone(), select(INTS)).prop_map(|((o, a), v)| H5Op::Int(o, a, v)),
        1 => (a.clone(), select(ODD_F64)).prop_map(|((o, a), v)| H5Op::Float(o, a, v)),
        1 => (a.clone(), words.clone()).prop_map(|((o, a), v)| H5Op::Str(o, a, v)),
        1 => (a.clone(), prop::collection::vec(words, 0..4)).prop_map(|((o, a), v)| H5Op::StrList(o, a, v)),
        1 => (a, shape(3), select(ODD_F64)).prop_map(|((o, a), s, v)| H5Op::Array(o, a, s, v)),
        3 => (d.clone(), ds()).prop_map(|(d, k)| H5Op::Dataset(d, k)),
        3 => (d, any::<Index>(), select(ODD_F64)).prop_map(|(d, i, v)| H5Op::Poke(d, i, v)),
    ]
}

fn parent(path: &str) -> (&str, &str) {
    path.rsplit_once('/').map_or(("/", path), |(p, n)| (if p.is_empty() { "/" } else { p }, n))
}

fn replace_attr<T: hdf5::H5Type>(loc: &hdf5::Location, name: &str, shape: &[usize], data: &[T]) -> hdf5::Result<()> {
    if loc.attr(name).is_ok() {
        loc.delete_attr(name)?;
    }
    loc.new_attr::<T>().shape(shape).create(name)?.write_raw(data)
}

/// Applies `op` to the file at `path`; a change that does not apply (its
/// object is missing) is skipped.
pub fn apply(path: &Path, op: &H5Op) {
    let Ok(f) = hdf5::File::open_rw(path) else { return };
    let obj = |p: &str| -> Option<hdf5::Location> {
        if let Ok(g) = f.group(p) {
            return Some((*g).clone());
        }
        f.dataset(p).ok().map(|d| (**d).clone())
    };
    let _ = (|| -> hdf5::Result<()> {
        match op {
            H5Op::Unlink(p) => f.unlink(p)?,
            H5Op::RemoveAttr(o, a) => {
                if let Some(l) = obj(o) {
                    l.delete_attr(a)?;
                }
            }
            H5Op::Int(o, a, v) => {
                if let Some(l) = obj(o) {
                    replace_attr(&l, a, &[], &[*v])?;
                }
            }
            H5Op::Float(o, a, v) => {
                if let Some(l) = obj(o) {
                    replace_attr(&l, a, &[], &[*v])?;
                }
            }
            H5Op::Str(o, a, v) => {
                if let Some(l) = obj(o) {
                    replace_attr(&l, a, &[], &[VarLenUnicode::from_str(v).unwrap()])?;
                }
            }
            H5Op::StrList(o, a, v) => {
                if let Some(l) = obj(o) {
                    let s: Vec<VarLenUnicode> = v.iter().map(|s| VarLenUnicode::from_str(s).unwrap()).collect();
                    replace_attr(&l, a, &[s.len()], &s)?;
                }
            }
            H5Op::Array(o, a, s, v) => {
                if let Some(l) = obj(o) {
                    let n: usize = s.iter().product();
                    replace_attr(&l, a, s, &vec![*v; n])?;
                }
            }
            H5Op::Dataset(p, kind) => {
                let (par, name) = parent(p);
                let g = f.group(par)?;
                if g.link_exists(name) {
                    g.unlink(name)?;
                }
                match kind {
                    Ds::F64(s, v) => {
                        let n: usize = s.iter().product();
                        g.new_dataset::<f64>().shape(s.as_slice()).create(name)?.write_raw(&vec![*v; n])?;
                    }
                    Ds::I32(s) => {
                        let n: usize = s.iter().product();
                        g.new_dataset::<i32>().shape(s.as_slice()).create(name)?.write_raw(&vec![7i32; n])?;
                    }
                    Ds::Str(n) => {
                        let v = vec![VarLenUnicode::from_str("x").unwrap(); *n];
                        g.new_dataset::<VarLenUnicode>().shape([*n]).create(name)?.write_raw(&v)?;
                    }
                    Ds::Sparse(s) => {
                        let chunk: Vec<usize> = s.iter().map(|&d| d.min(1024)).collect();
                        g.new_dataset::<f64>().shape(s.as_slice()).chunk(chunk.as_slice()).create(name)?;
                    }
                }
            }
            H5Op::Poke(p, i, v) => {
                let d = f.dataset(p)?;
                let shape = d.shape();
                let n: usize = shape.iter().product();
                if n == 0 || n > 1 << 20 || d.dtype()?.size() != 8 {
                    return Ok(());
                }
                let mut all: Vec<f64> = d.read_raw()?;
                all[i.index(n)] = *v;
                d.write_raw(&all)?;
            }
        }
        Ok(())
    })();
    let _ = f.close();
}
