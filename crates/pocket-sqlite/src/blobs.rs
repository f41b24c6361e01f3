//! Large values kept once by content hash: a record's big values are replaced by their hash
//! when written and put back when read.

use pocket::durable::Record;
use rusqlite::{Connection, OptionalExtension, Transaction};
use serde_json::{Value, json};

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

/// The JSON text a record is stored as: `{"record": ..., "blobs": {slot: hash}}`, its large
/// values written to `blobs` (once per content) and replaced by their hash.
pub(crate) fn write(tx: &Transaction<'_>, mut record: Record) -> rusqlite::Result<String> {
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
    let record = serde_json::to_value(&record).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    Ok(if refs.is_empty() { json!({"record": record}) } else { json!({"record": record, "blobs": refs}) }.to_string())
}

/// A record read back from its stored text, with its large values put back.
pub(crate) fn read(conn: &Connection, text: &str) -> Result<Record, String> {
    let mut stored: Value =
        crate::json::parse(text.as_bytes()).map_err(|e| format!("a log record is not JSON: {e}"))?;
    let refs = stored.get_mut("blobs").map(Value::take);
    let mut record: Record = serde_json::from_value(stored.get_mut("record").map(Value::take).unwrap_or_default())
        .map_err(|e| format!("a log record cannot be read: {e}"))?;
    let Some(Value::Object(refs)) = refs else { return Ok(record) };
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
            SELECT value FROM log, json_each(log.body, '$.blobs'))",
        [],
    )
}
