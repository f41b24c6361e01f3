//! Type erasure: the one module that names `Any` (besides a caught panic's payload, in
//! `error.rs`). The graph's payload between nodes, a boxed node's step results and the store's
//! typed values are erased here and opened only here; everything else handles typed values.
//!
//! The checks these downcasts make were made earlier where the types were known (a graph's
//! edges at `build()`, a boxed node's steps by construction), so a failed downcast here is an
//! internal error, reported as one, never a panic.

use std::any::{Any, TypeId};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The value travelling between nodes: a box holding `Option<T>`. A node takes its input out of
/// the box and, when its output has the same type, puts the output back into the same box, so a
/// run of same-typed nodes allocates no payloads.
pub(crate) type Payload = Box<dyn Any + Send>;

/// A payload holding `value`.
#[inline]
pub(crate) fn payload<T: Send + 'static>(value: T) -> Payload {
    Box::new(Some(value))
}

/// The value of a payload that holds a `T`, or the payload back.
pub(crate) fn unpack<T: 'static>(mut payload: Payload) -> Result<T, Payload> {
    match take::<T>(&mut payload) {
        Some(value) => Ok(value),
        None => Err(payload),
    }
}

/// Take the `T` out of the payload (leaving it empty); `None` if it holds another type.
#[inline]
pub(crate) fn take<T: 'static>(payload: &mut Payload) -> Option<T> {
    payload.downcast_mut::<Option<T>>().and_then(Option::take)
}

/// Put `value` into the payload: in place when it holds the same type, else a new box.
#[inline]
pub(crate) fn put<T: Send + 'static>(payload: &mut Payload, value: T) {
    match payload.downcast_mut::<Option<T>>() {
        Some(slot) => *slot = Some(value),
        None => *payload = self::payload(value),
    }
}

/// The slot of a payload holding a `T`.
#[inline]
pub(crate) fn slot<T: 'static>(payload: &mut Payload) -> Option<&mut Option<T>> {
    payload.downcast_mut::<Option<T>>()
}

/// `value` as a `B` when `A` is `B` (resolved at compile time for known types).
#[inline]
pub(crate) fn same_type<A: 'static, B: 'static>(value: &mut A) -> Option<&mut B> {
    (value as &mut dyn Any).downcast_mut::<B>()
}

/// The payload's `T`, if it holds one.
pub(crate) fn peek<T: 'static>(payload: &Payload) -> Option<&T> {
    payload.downcast_ref::<Option<T>>()?.as_ref()
}

/// A type's identity and name, for build-time checks and messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TypeInfo {
    pub(crate) id: TypeId,
    pub(crate) name: &'static str,
}

impl TypeInfo {
    pub(crate) fn of<T: 'static>() -> Self {
        TypeInfo { id: TypeId::of::<T>(), name: std::any::type_name::<T>() }
    }
}

/// How a payload of one type is written down and read back (JSON), captured where the type is
/// still known: by [`GraphBuilder::serde_node`](crate::graph::GraphBuilder::serde_node).
#[derive(Clone, Copy)]
pub(crate) struct Codec {
    encode: fn(&Payload) -> Option<serde_json::Result<Value>>,
    decode: fn(Value) -> serde_json::Result<Payload>,
}

impl Codec {
    pub(crate) fn of<T: Serialize + DeserializeOwned + Send + 'static>() -> Self {
        fn encode<T: Serialize + 'static>(payload: &Payload) -> Option<serde_json::Result<Value>> {
            peek::<T>(payload).map(serde_json::to_value)
        }
        fn decode<T: DeserializeOwned + Send + 'static>(value: Value) -> serde_json::Result<Payload> {
            serde_json::from_value::<T>(value).map(payload)
        }
        Codec { encode: encode::<T>, decode: decode::<T> }
    }

    /// The payload as JSON (`None` if it does not hold this codec's type).
    pub(crate) fn encode(&self, payload: &Payload) -> Option<serde_json::Result<Value>> {
        (self.encode)(payload)
    }

    /// A payload from JSON.
    pub(crate) fn decode(&self, value: Value) -> serde_json::Result<Payload> {
        (self.decode)(value)
    }
}

/// A value of any type that crosses threads by reference too (a boxed node's Prep result).
pub(crate) struct AnySync(Box<dyn Any + Send + Sync>);

impl AnySync {
    pub(crate) fn new<T: Send + Sync + 'static>(value: T) -> Self {
        AnySync(Box::new(value))
    }

    pub(crate) fn get<T: 'static>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }

    pub(crate) fn into_inner<T: 'static>(self) -> Option<T> {
        self.0.downcast::<T>().ok().map(|b| *b)
    }
}

/// A value of any type that crosses threads (a boxed node's Exec result).
pub(crate) struct AnySend(Box<dyn Any + Send>);

impl AnySend {
    pub(crate) fn new<T: Send + 'static>(value: T) -> Self {
        AnySend(Box::new(value))
    }

    pub(crate) fn into_inner<T: 'static>(self) -> Option<T> {
        self.0.downcast::<T>().ok().map(|b| *b)
    }
}

/// A value written to the store through a typed key: kept as itself, shown as JSON on demand.
pub(crate) trait Stored: Any + Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn to_json(&self) -> serde_json::Result<Value>;
    fn type_name(&self) -> &'static str;
}

impl<T: Serialize + Send + Sync + 'static> Stored for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn to_json(&self) -> serde_json::Result<Value> {
        serde_json::to_value(self)
    }
    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
}

/// The stored value as a `T`, if it is one.
#[inline]
pub(crate) fn stored<T: 'static>(value: &dyn Stored) -> Option<&T> {
    value.as_any().downcast_ref::<T>()
}
