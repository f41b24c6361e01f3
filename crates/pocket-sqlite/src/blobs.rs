//! Large values kept once by content hash: a record's big values are replaced by their hash
//! when written and put back when read. A big list is kept element by element, so a list that
//! grows by one element per step (a conversation) stores each element once, not the whole
//! list again at every step.

use pocket::durable::Record;
use rusqlite::{Connection, OptionalExtension, Transaction};
use serde_json::Value;

/// Values whose JSON is longer than this are stored in `blobs`, once per content.
pub(crate) const INLINE_MAX: usize = 4096;

/// In a big list, the elements whose JSON is longer than this are stored in `blobs` on their
/// own (shorter ones stay in the record).
pub(crate) const ELEMENT_MIN: usize = 256;

/// The zstd level stored values are compressed at (fast; JSON text shrinks 3–10×).
const LEVEL: i32 = 3;

/// The largest value read back (its size is in the compressed frame, checked before any
/// memory is taken for it).
const MAX_VALUE: u64 = 1 << 30;

/// Store `text` under its hash (once, compressed), and give the hash.
fn put(tx: &Transaction<'_>, text: &str) -> rusqlite::Result<String> {
    let hash = blake3::hash(text.as_bytes()).to_hex().to_string();
    let known: Option<i64> =
        tx.prepare_cached("SELECT 1 FROM blobs WHERE hash = ?1")?.query_row([&hash], |row| row.get(0)).optional()?;
    if known.is_none() {
        let bytes = zstd::bulk::compress(text.as_bytes(), LEVEL)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        tx.prepare_cached("INSERT INTO blobs (hash, bytes) VALUES (?1, ?2)")?
            .execute(rusqlite::params![hash, bytes])?;
    }
    Ok(hash)
}

/// The value stored under `hash`.
fn get(conn: &Connection, hash: &str) -> Result<Value, String> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT bytes FROM blobs WHERE hash = ?1")
        .and_then(|mut q| q.query_row([hash], |row| row.get(0)).optional())
        .map_err(|e| e.to_string())?;
    let bytes = bytes.ok_or_else(|| format!("the value {hash} a log record refers to is missing"))?;
    let size = match zstd::zstd_safe::get_frame_content_size(&bytes) {
        Ok(Some(size)) if size <= MAX_VALUE => size as usize,
        Ok(Some(size)) => return Err(format!("the stored value {hash} would be {size} bytes: too large")),
        _ => return Err(format!("the stored value {hash} is damaged (not a compressed frame)")),
    };
    let text = zstd::bulk::decompress(&bytes, size).map_err(|e| format!("the stored value {hash} is damaged: {e}"))?;
    crate::json::parse(&text).map_err(|e| format!("the stored value {hash} is not JSON: {e}"))
}

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

/// The JSON text a record is stored as, and what stands for its large values (`None` when all
/// are inline): per slot, the hash of the whole value, or for a big list `{"items": [hash or
/// null, ...]}` — the elements with a hash are stored on their own (and are `null` in the
/// record), the others stay in it. Each stored text is written to `blobs` once per content.
pub(crate) fn write(tx: &Transaction<'_>, mut record: Record) -> rusqlite::Result<(String, Option<String>)> {
    let mut refs = serde_json::Map::new();
    for (slot, value) in slots(&mut record) {
        let text = value.to_string();
        if text.len() <= INLINE_MAX {
            continue;
        }
        match value {
            Value::Array(items) => {
                let mut hashes = Vec::with_capacity(items.len());
                for item in items.iter_mut() {
                    let text = item.to_string();
                    if text.len() <= ELEMENT_MIN {
                        hashes.push(Value::Null);
                    } else {
                        hashes.push(Value::String(put(tx, &text)?));
                        *item = Value::Null;
                    }
                }
                refs.insert(slot, serde_json::json!({"items": hashes}));
            }
            _ => {
                let hash = put(tx, &text)?;
                *value = Value::String(hash.clone());
                refs.insert(slot, Value::String(hash));
            }
        }
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
        match refs.get(&slot) {
            Some(Value::String(hash)) => *value = get(conn, hash)?,
            Some(Value::Object(list)) => {
                let (Some(Value::Array(hashes)), Value::Array(items)) = (list.get("items"), &mut *value) else {
                    return Err(format!("a log record's list `{slot}` does not match its hashes"));
                };
                if hashes.len() != items.len() {
                    return Err(format!("a log record's list `{slot}` does not match its hashes"));
                }
                for (item, hash) in items.iter_mut().zip(hashes) {
                    if let Value::String(hash) = hash {
                        *item = get(conn, hash)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(record)
}

/// Remove the blobs no log record refers to any more.
pub(crate) fn sweep(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM blobs WHERE hash NOT IN (
            SELECT json_tree.value FROM log, json_tree(log.blobs)
            WHERE log.blobs IS NOT NULL AND json_tree.type = 'text')",
        [],
    )
}
