use std::fmt;
use std::marker::PhantomData;

/// A store key that knows the type of its value.
///
/// Declare keys as constants and the compiler checks every read and write:
///
/// ```
/// use pocket::{Key, Store};
///
/// const SCORE: Key<f64> = Key::new("score");
/// let store = Store::new();
/// store.set(&SCORE, 0.9);
/// let score: Option<f64> = store.get(&SCORE).unwrap();
/// assert_eq!(score, Some(0.9));
/// ```
pub struct Key<T> {
    name: &'static str,
    _type: PhantomData<fn() -> T>,
}

impl<T> Key<T> {
    /// A key named `name` holding values of type `T`.
    pub const fn new(name: &'static str) -> Self {
        Key { name, _type: PhantomData }
    }

    /// The key's name (without any scope prefix).
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<T> Clone for Key<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Key<T> {}

impl<T> fmt::Debug for Key<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key<{}>({:?})", std::any::type_name::<T>(), self.name)
    }
}
