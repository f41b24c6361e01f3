//! Large values kept once by content hash: a record's big values are replaced by their hash
//! when written and put back when read.

use pocket::durable::Record;
use rusqlite::{Connection, OptionalExtension, Transaction};
use serde_json::Value;

/// Values whose JSON is longer than this are stored in `blobs`, once per content.
pub(crate) const INLINE_MAX: usize = 4096;

/// The big values of `record` (its value, each store delta's value), by where they are.
fn slots(record: &mut Record) -> Vec<(String, &mut Value)> {
    match record {
        Record::Step(step) => {
            let mut slots = vec![("value".to_string(), &mut step.value)];
            for (i, delta) in step.delta.iter_mut().enumerate() {
                if let Some(value) = &mut delta.value {
                    slots.push((format!("delta.{i}"), value));
                }
            }
            slots
        }
        Record::Memo { value, .. } | Record::Item { value, .. } => vec![("value".to_string(), value)],
        _ => Vec::new(),
    }
}

/// The JSON text a record is stored as, and the hashes that stand for its large values
/// (`{slot: hash}`, `None` when all are inline): the large values are written to `blobs` once
/// per content.
pub(crate) fn write(tx: &Transaction<'_>, mut record: Record) -> rusqlite::Result<(String, Option<String>)> {
    let mut refs = serde_json::Map::new();
    for (slot, value) in slots(&mut record) {
        let text = value.to_string();
        if text.len() <= INLINE_MAX {
            continue;
        }
        let hash = blake3::hash(text.as_bytes()).to_hex().to_string();
        tx.prepare_cached("INSERT OR IGNORE INTO blobs (hash, bytes) VALUES (?1, ?2)")?
            .execute(rusqlite::params![hash, text.as_bytes()])?;
        *value = Value::String(hash.clone());
        refs.insert(slot, Value::String(hash));
    }
    let body = serde_json::to_string(&record).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    Ok((body, (!refs.is_empty()).then(|| Value::Object(refs).to_string())))
}

/// A record read back from its stored text and hashes, with its large values put back.
pub(crate) fn read(conn: &Connection, body: &str, refs: Option<&str>) -> Result<Record, String> {
    let mut record: Record =
        crate::json::parse(body.as_bytes()).map_err(|e| format!("a log record cannot be read: {e}"))?;
    let Some(refs) = refs else { return Ok(record) };
    let refs: serde_json::Map<String, Value> =
        serde_json::from_str(refs).map_err(|e| format!("a log record's value hashes cannot be read: {e}"))?;
    for (slot, value) in slots(&mut record) {
        let Some(Value::String(hash)) = refs.get(&slot) else { continue };
        let bytes: Option<Vec<u8>> = conn
            .prepare_cached("SELECT bytes FROM blobs WHERE hash = ?1")
            .and_then(|mut q| q.query_row([hash], |row| row.get(0)).optional())
            .map_err(|e| e.to_string())?;
        let bytes = bytes.ok_or_else(|| format!("the value {hash} a log record refers to is missing"))?;
        *value = crate::json::parse(&bytes).map_err(|e| format!("the stored value {hash} is not JSON: {e}"))?;
    }
    Ok(record)
}

/// Remove the blobs no log record refers to any more.
pub(crate) fn sweep(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM blobs WHERE hash NOT IN (
            SELECT value FROM log, json_each(log.blobs) WHERE log.blobs IS NOT NULL)",
        [],
    )
}
