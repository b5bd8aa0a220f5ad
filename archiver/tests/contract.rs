//! The archiver's tables are the Worker's export tables: same names, same
//! export keys (hence cursors), and the archiver parses exactly the columns
//! the Worker exports (all of them, or a subset when the whole row is kept).
#![allow(clippy::unwrap_used)]

use sas_archiver::tables;
use sas_worker::export::TABLES;

#[test]
fn archiver_tables_match_the_worker_export() {
    let worker: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    let ours: Vec<&str> = tables::ALL.iter().map(|t| t.name).collect();
    assert_eq!(ours, worker, "same tables in the same order");
    for w in TABLES {
        let a = tables::by_name(w.name).unwrap();
        let worker_key: Vec<&str> = w.key.iter().map(|k| k.name).collect();
        assert_eq!(a.key, worker_key.as_slice(), "{}: export key", w.name);
        for k in w.key {
            let int = matches!(k.kind, sas_worker::export::KeyKind::Int);
            assert_eq!(a.key_is_int(k.name), int, "{}.{}: key kind", w.name, k.name);
        }
        let cols: Vec<&str> = a.cols.iter().map(|c| c.name).collect();
        if a.keep_row {
            for c in &cols {
                assert!(w.columns.contains(c), "{}.{c} is not exported", w.name);
            }
        } else {
            let mut ours = cols.clone();
            let mut theirs = w.columns.to_vec();
            ours.sort_unstable();
            theirs.sort_unstable();
            assert_eq!(ours, theirs, "{}: columns", w.name);
        }
        assert!(cols.contains(&a.time_col), "{}: time column", w.name);
    }
}
