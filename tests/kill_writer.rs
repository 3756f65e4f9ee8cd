//! A chain writer killed between flushes leaves a readable file holding
//! every row up to its last flush.
//!
//! The test re-runs its own test binary as the writer process (the ignored
//! test `writer_child`, which only writes when `SEQCAL_KILL_TEST_FILE` is
//! set). After each row it appends, the writer reports its rows and waits
//! for a word on its standard input, so the test kills it with SIGKILL at a
//! known point: after 1 to 12 flushes, with 0 to 6 rows appended since the
//! last one and held in memory. (A kill during the milliseconds of a flush
//! itself can damage the file, as the chain writer's documentation says; the
//! pipeline redoes a stage whose chain is incomplete or damaged.)

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use ndarray::{Array1, Array2};
use seqcal::chain::{ChainLayout, ChainReader, ChainWriter, Column, Columns, Step};

const WALKERS: usize = 8;
const DIM: usize = 3;
const FLUSH_EVERY: usize = 7;

/// The value every writer stores at (iteration, walker, parameter), so the
/// reader can check the contents, not just the shape.
fn value(i: usize, w: usize, j: usize) -> f64 {
    (i as f64) * 1000.0 + (w as f64) * 10.0 + j as f64 + 0.25
}

#[test]
#[ignore = "writer process for killed_writer_leaves_a_valid_file; runs only when spawned by it"]
fn writer_child() {
    let Ok(path) = std::env::var("SEQCAL_KILL_TEST_FILE") else { return };
    let names = vec!["a".to_string(), "b".to_string(), "c".to_string()];
    let cols = Columns { log_prob: true, log_prior: true, ..Default::default() };
    let mut w = ChainWriter::create(path.as_ref(), &ChainLayout::new(names, WALKERS).columns(cols), FLUSH_EVERY).unwrap();
    let mut go = String::new();
    for i in 0.. {
        let x = Array2::from_shape_fn((WALKERS, DIM), |(k, j)| value(i, k, j));
        let lp = Array1::from_shape_fn(WALKERS, |k| -value(i, k, 0));
        let acc: Vec<bool> = (0..WALKERS).map(|k| (i + k) % 2 == 0).collect();
        w.append(Step::new(x.view()).with(Column::LogProb, lp.view()).with(Column::LogPrior, lp.view()).accepted(&acc)).unwrap();
        println!("rows {} flushed {}", w.rows(), w.rows_flushed());
        go.clear();
        if std::io::stdin().read_line(&mut go).unwrap() == 0 {
            return;
        }
    }
}

#[test]
fn killed_writer_leaves_a_valid_file() {
    let exe = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A fixed sequence of kill points: after 1..=12 flushes and 0..=6 more rows.
    for trial in 0..12usize {
        let path = dir.path().join(format!("killed{trial}.h5"));
        let mut child = Command::new(&exe)
            .args(["--exact", "writer_child", "--ignored", "--nocapture", "--test-threads=1"])
            .env("SEQCAL_KILL_TEST_FILE", &path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stdin = child.stdin.take().unwrap();
        let (kill_rows, kill_flushed) = ((1 + trial) * FLUSH_EVERY + trial % FLUSH_EVERY, (1 + trial) * FLUSH_EVERY);
        let mut last = 0;
        while let Some(Ok(line)) = lines.next() {
            let counts: Vec<usize> = line.split(' ').filter_map(|t| t.parse().ok()).collect();
            let [rows, flushed] = counts[..] else { continue };
            last = flushed;
            if rows == kill_rows {
                assert_eq!(flushed, kill_flushed, "trial {trial}: flushes every {FLUSH_EVERY} rows");
                break;
            }
            writeln!(stdin, "go").unwrap();
        }
        assert_eq!(last, kill_flushed, "trial {trial}: the writer stopped after {last} flushed rows");
        // The writer waits for its next word: it is still running, between
        // flushes, when it is killed.
        assert!(child.try_wait().unwrap().is_none(), "trial {trial}: the writer exited before the kill");
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(9), "trial {trial}: the writer was not killed by SIGKILL: {status}");

        let reader = ChainReader::open(&path).unwrap_or_else(|e| panic!("trial {trial}: killed file unreadable: {e}"));
        let h = reader.header();
        assert!(h.iterations >= last, "trial {trial}: {} rows, but {last} were reported flushed", h.iterations);
        assert_eq!(h.complete, Some(false), "a killed run must not look complete");
        let c = reader.read_all().unwrap();
        for i in 0..h.iterations {
            for k in 0..WALKERS {
                for j in 0..DIM {
                    assert_eq!(c.draws[[i, k, j]], value(i, k, j), "trial {trial}: row {i} corrupt");
                }
                assert_eq!(c.log_prob.as_ref().unwrap()[[i, k]], -value(i, k, 0));
            }
        }
        // Acceptance counts agree with the rows: walker k accepted on iterations with i + k even.
        for k in 0..WALKERS {
            let expect = (0..h.iterations).filter(|i| (i + k) % 2 == 0).count() as f64;
            assert_eq!(h.accepted[k], expect, "trial {trial}: walker {k}");
        }
        // And the killed file resumes: rows continue after the last valid one.
        let valid = h.iterations;
        drop(reader);
        let (mut w, h) = ChainWriter::resume(&path, FLUSH_EVERY).unwrap_or_else(|e| panic!("trial {trial}: cannot resume: {e}"));
        assert_eq!(h.iterations, valid);
        for i in valid..valid + 3 {
            let x = Array2::from_shape_fn((WALKERS, DIM), |(k, j)| value(i, k, j));
            let lp = Array1::from_shape_fn(WALKERS, |k| -value(i, k, 0));
            w.append(Step::new(x.view()).with(Column::LogProb, lp.view()).with(Column::LogPrior, lp.view())).unwrap();
        }
        w.finish().unwrap();
        let c = seqcal::chain::read_hdf5(&path).unwrap();
        assert_eq!(c.iterations(), valid + 3, "trial {trial}");
        assert!((0..valid + 3).all(|i| c.draws[[i, WALKERS - 1, DIM - 1]] == value(i, WALKERS - 1, DIM - 1)), "trial {trial}: resumed rows");
        assert_eq!(ChainReader::open(&path).unwrap().header().complete, Some(true));
    }
}

#[test]
fn resume_continues_after_the_last_valid_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resume.h5");
    let names = vec!["a".to_string(), "b".to_string(), "c".to_string()];
    let cols = Columns { log_prob: true, ..Default::default() };
    let step = |w: &mut ChainWriter, i: usize| {
        let x = Array2::from_shape_fn((WALKERS, DIM), |(k, j)| value(i, k, j));
        let lp = Array1::zeros(WALKERS);
        w.append(Step::new(x.view()).with(Column::LogProb, lp.view())).unwrap();
    };
    let mut w = ChainWriter::create(&path, &ChainLayout::new(names, WALKERS).bounds(vec![(0.0, 1e9); DIM]).columns(cols), 5).unwrap();
    for i in 0..12 {
        step(&mut w, i);
    }
    // Two rows are buffered, not flushed: forget the writer as a kill would.
    std::mem::forget(w);
    let (mut w, h) = ChainWriter::resume(&path, 5).unwrap();
    assert_eq!(h.iterations, 10);
    for i in 10..23 {
        step(&mut w, i);
    }
    w.set_attr("note", "resumed");
    w.finish().unwrap();
    let c = seqcal::chain::read_hdf5(&path).unwrap();
    assert_eq!(c.iterations(), 23);
    assert!((0..23).all(|i| c.draws[[i, 3, 2]] == value(i, 3, 2)));
    assert_eq!(c.attrs["note"], "resumed");
    assert_eq!(c.bounds[0], (0.0, 1e9));
}
