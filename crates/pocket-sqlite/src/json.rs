//! Reading stored JSON back, however deep: values as deep as a run may hold (the workflow
//! format allows thousands of levels) parse on a stack that grows on the heap.

use serde::de::DeserializeOwned;

/// `text` parsed as a `T`, without serde_json's nesting limit of 128 levels.
pub(crate) fn parse<T: DeserializeOwned>(text: &[u8]) -> serde_json::Result<T> {
    let mut parser = serde_json::Deserializer::from_slice(text);
    parser.disable_recursion_limit();
    let value = T::deserialize(serde_stacker::Deserializer::new(&mut parser))?;
    parser.end()?;
    Ok(value)
}
