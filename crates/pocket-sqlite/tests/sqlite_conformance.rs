//! The SQLite checkpointer against the conformance suite, and the faults of a real file.

use std::sync::Arc;

use pocket::durable::{CheckpointError, Checkpointer, Durability, RunRecord, conformance};
use pocket_sqlite::SqliteCheckpointer;

#[tokio::test]
async fn passes_the_conformance_suite_in_both_modes() {
    for mode in [Durability::Process, Durability::Machine] {
        let dir = tempfile::tempdir().unwrap();
        let n = std::sync::atomic::AtomicUsize::new(0);
        conformance::check(|| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Arc::new(SqliteCheckpointer::open(dir.path().join(format!("state-{i}.db")), mode).unwrap())
        })
        .await;
    }
}

#[test]
fn a_file_that_is_not_a_database_is_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    std::fs::write(&path, "this is not SQLite, just text that is long enough to have a header...".repeat(20)).unwrap();
    let err = SqliteCheckpointer::open(&path, Durability::Process).unwrap_err();
    assert!(matches!(err, CheckpointError::Corrupt(_)), "{err:?}");
}

#[tokio::test]
async fn runs_survive_reopening_and_large_values_are_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep/er/state.db");
    let big = serde_json::json!("y".repeat(100_000));
    {
        let c = SqliteCheckpointer::open(&path, Durability::Process).unwrap();
        c.create(&RunRecord::new("r", "w", big.clone())).unwrap();
        for step in 0..20 {
            let record = pocket::durable::Record::Memo { node: "n".into(), step, value: big.clone() };
            // Not waited for: dropping the checkpointer commits what is queued.
            drop(c.append("r", record));
        }
    }
    let size = std::fs::metadata(&path).unwrap().len()
        + std::fs::metadata(dir.path().join("deep/er/state.db-wal")).map_or(0, |m| m.len());
    let c = SqliteCheckpointer::open(&path, Durability::Process).unwrap();
    let saved = c.load("r").unwrap();
    assert_eq!(saved.log.len(), 20);
    assert!(saved.log.iter().all(|r| matches!(r, pocket::durable::Record::Memo { value, .. } if *value == big)));
    assert!(size < 20 * 100_000, "20 copies of a 100 kB value took {size} bytes: not stored once");
    assert!(c.integrity_check().unwrap().is_empty());
    assert!(c.remove("r").unwrap());
    assert_eq!(c.sweep().unwrap(), 1, "the one stored value is swept with its run");
}
