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

/// Power loss in `process` mode: the WAL's unsynced tail is lost. Whatever length of it
/// survives, the file opens, passes `PRAGMA integrity_check`, and holds a prefix of the steps.
#[tokio::test]
async fn a_lost_wal_tail_leaves_a_sound_file_with_a_prefix_of_the_steps() {
    use pocket::durable::Record;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let c = SqliteCheckpointer::open(&path, Durability::Process).unwrap();
    c.create(&RunRecord::new("r", "w", serde_json::Value::Null)).unwrap();
    for step in 1..=100u64 {
        let record: Record = serde_json::from_value(serde_json::json!({
            "kind": "step", "node": format!("n{step}"), "step": step, "action": "default",
            "next": format!("n{}", step + 1), "value": {"step": step, "pad": "x".repeat(300)},
            "delta": [{"key": format!("k{step}"), "value": step}], "started_ms": 0, "elapsed_us": 0,
        }))
        .unwrap();
        // One commit per step: many WAL frames.
        c.append("r", record).wait().await.unwrap();
    }
    // As at a power cut: the files as they are now, the process gone without closing.
    let db = std::fs::read(&path).unwrap();
    let wal = std::fs::read(dir.path().join("state.db-wal")).unwrap();
    assert!(wal.len() > 4096, "the steps are in the WAL ({} bytes)", wal.len());
    let mut seen = Vec::new();
    for keep in [0, 32, 4096, wal.len() / 3, wal.len() / 2, wal.len() - 1000, wal.len()] {
        let copy = tempfile::tempdir().unwrap();
        let target = copy.path().join("state.db");
        std::fs::write(&target, &db).unwrap();
        std::fs::write(copy.path().join("state.db-wal"), &wal[..keep.min(wal.len())]).unwrap();
        let reopened = SqliteCheckpointer::open(&target, Durability::Process).expect("the file opens");
        assert!(reopened.integrity_check().unwrap().is_empty(), "sound with {keep} WAL bytes");
        let steps: Vec<u64> = match reopened.load("r") {
            Ok(saved) => saved.steps().map(|s| s.step).collect(),
            // The run's own record may be in the lost tail too.
            Err(CheckpointError::NoRun(_)) => Vec::new(),
            Err(e) => panic!("{keep} WAL bytes: {e}"),
        };
        assert_eq!(steps, (1..=steps.len() as u64).collect::<Vec<_>>(), "a prefix of the steps ({keep} bytes)");
        seen.push(steps.len());
    }
    assert_eq!(seen.last(), Some(&100), "the whole WAL keeps every step");
    assert!(seen.iter().any(|n| *n > 0 && *n < 100), "some cut loses some steps: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "more WAL, more steps: {seen:?}");
    drop(c);
}

#[tokio::test]
async fn a_database_another_process_keeps_locked_is_reported_busy_and_usable_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    drop(SqliteCheckpointer::open(&path, Durability::Process).unwrap());
    // Another program holds the write lock (as a long transaction of another process would).
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let c = SqliteCheckpointer::open_with(&path, Durability::Process, std::time::Duration::from_millis(100)).unwrap();
    let err = c.create(&RunRecord::new("r", "w", serde_json::Value::Null)).unwrap_err();
    assert!(matches!(err, CheckpointError::Busy(_)), "{err:?}");
    assert!(err.to_string().contains("busy"), "{err}");
    other.execute_batch("COMMIT").unwrap();
    c.create(&RunRecord::new("r", "w", serde_json::Value::Null)).expect("usable once the lock is gone");
}

/// A conversation that grows by one message per step stores each message once: the file
/// grows with the messages, not with the square of their number.
#[tokio::test]
async fn a_list_that_grows_by_one_element_per_step_stores_each_element_once() {
    use pocket::durable::Record;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let steps = 200u64;
    let message =
        |i: u64| serde_json::json!({"role": "user", "content": format!("message {i}: {}", "words ".repeat(150))});
    {
        let c = SqliteCheckpointer::open(&path, Durability::Process).unwrap();
        c.create(&RunRecord::new("r", "w", serde_json::Value::Null)).unwrap();
        for step in 1..=steps {
            let messages: Vec<serde_json::Value> = (1..=step).map(message).collect();
            let record: Record = serde_json::from_value(serde_json::json!({
                "kind": "step", "node": "chat", "step": step, "action": "default", "next": "chat",
                "value": {"turn": step}, "delta": [{"key": "messages", "value": messages}],
                "started_ms": 0, "elapsed_us": 0,
            }))
            .unwrap();
            c.append("r", record).wait().await.unwrap();
        }
        let saved = c.load("r").unwrap();
        let last = saved.last_step().unwrap();
        let expected: Vec<serde_json::Value> = (1..=steps).map(message).collect();
        assert!(last.delta[0].value == Some(serde_json::Value::Array(expected)), "the list reads back whole");
    }
    let size = std::fs::metadata(&path).unwrap().len();
    let one = message(1).to_string().len() as u64;
    // Each message once (~930 bytes each), plus 66 bytes of hash per message per step.
    let whole_lists = one * steps * (steps + 1) / 2;
    assert!(size < whole_lists / 5, "{size} bytes for {steps} steps (whole lists would be {whole_lists})");
    let c = SqliteCheckpointer::open(&path, Durability::Process).unwrap();
    assert!(c.remove("r").unwrap());
    assert_eq!(c.sweep().unwrap(), steps as usize, "every message is swept with its run");
}

/// Stored values are compressed, and a damaged one is an error naming it, not a crash.
#[tokio::test]
async fn stored_values_are_compressed_and_a_damaged_one_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let big = serde_json::json!("z".repeat(1_000_000));
    {
        let c = SqliteCheckpointer::open(&path, Durability::Process).unwrap();
        c.create(&RunRecord::new("r", "w", serde_json::Value::Null)).unwrap();
        let record = pocket::durable::Record::Memo { node: "n".into(), step: 1, value: big.clone() };
        c.append("r", record).wait().await.unwrap();
    }
    assert!(std::fs::metadata(&path).unwrap().len() < 200_000, "a megabyte of one letter is stored compressed");
    let c = SqliteCheckpointer::open(&path, Durability::Process).unwrap();
    assert!(matches!(&c.load("r").unwrap().log[0], pocket::durable::Record::Memo { value, .. } if *value == big));
    drop(c);
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("UPDATE blobs SET bytes = X'28B52FFD00FFFFFF'", []).unwrap();
    drop(raw);
    let c = SqliteCheckpointer::open(&path, Durability::Process).unwrap();
    let err = c.load("r").unwrap_err();
    assert!(matches!(err, CheckpointError::Corrupt(_)), "{err:?}");
    assert!(err.to_string().contains("damaged"), "{err}");
}
