//! Routing data: [`Action`] names an edge, [`Next`] is what Post returns.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// The name of an outgoing edge, returned by a node's Post to choose what runs next.
///
/// Cheap to clone: static names are borrowed, dynamic ones shared.
///
/// # Examples
///
/// ```
/// use pocket::Action;
///
/// assert_eq!(Action::DEFAULT, "default");
/// assert_eq!(Action::new("approve"), Action::from(String::from("approve")));
/// ```
#[derive(Clone)]
pub struct Action {
    repr: Repr,
    /// The length (low byte, saturated) and the first 7 bytes, packed: most comparisons stop
    /// here.
    tag: u64,
}

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Action {
    /// The action taken when a node does not choose one: `default`.
    pub const DEFAULT: Action = Action::new("default");

    /// An action with a static name.
    #[inline]
    pub const fn new(name: &'static str) -> Self {
        Action { repr: Repr::Static(name), tag: tag(name) }
    }

    fn shared(name: Arc<str>) -> Self {
        let tag = tag(&name);
        Action { repr: Repr::Shared(name), tag }
    }

    /// The action's name.
    pub fn as_str(&self) -> &str {
        match &self.repr {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

static DEFAULT_ACTION: Action = Action::DEFAULT;

#[inline]
const fn tag(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let len = if bytes.len() > 255 { 255 } else { bytes.len() as u64 };
    let mut packed = len;
    let mut i = 0;
    while i < bytes.len() && i < 7 {
        packed |= (bytes[i] as u64) << (8 * (i + 1));
        i += 1;
    }
    packed
}

impl Default for Action {
    fn default() -> Self {
        Action::DEFAULT
    }
}

impl PartialEq for Action {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        if self.tag != other.tag {
            return false;
        }
        (self.tag & 0xff) <= 7 || self.as_str() == other.as_str()
    }
}

impl Eq for Action {}

impl PartialEq<str> for Action {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Action {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::hash::Hash for Action {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Action {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Action::from)
    }
}

impl From<&'static str> for Action {
    #[inline]
    fn from(name: &'static str) -> Self {
        Action::new(name)
    }
}

impl From<String> for Action {
    fn from(name: String) -> Self {
        Action::shared(name.into())
    }
}

impl From<Cow<'static, str>> for Action {
    fn from(name: Cow<'static, str>) -> Self {
        match name {
            Cow::Borrowed(s) => Action::new(s),
            Cow::Owned(s) => s.into(),
        }
    }
}

impl From<Arc<str>> for Action {
    fn from(name: Arc<str>) -> Self {
        Action::shared(name)
    }
}

/// Where the run goes after a node: along the edge of an action, or nowhere.
///
/// Returning an action that has no edge also ends the run (with that node's output), unless the
/// graph is strict; [`Next::End`] ends it explicitly, strict or not. [`Next::Interrupt`]
/// suspends the run until someone answers.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Next {
    /// Follow the edge labelled with this action.
    To(Action),
    /// Follow the `default` edge.
    #[default]
    Default,
    /// End the run here with this node's output.
    End,
    /// Suspend the run here until it is answered: the run ends with
    /// [`RunError::Interrupted`](crate::RunError::Interrupted) carrying this request (what to
    /// ask, as JSON), and a durable run is recorded as waiting. Its resume
    /// ([`Graph::resume`](crate::Graph::resume) with [`RunOptions::answer`](crate::RunOptions::answer))
    /// takes the answer as this node's output and routes on the answer's action. Only the
    /// nodes of the graph being run can interrupt it (in a fan-out item or a sub-graph it ends
    /// that inner run).
    Interrupt(serde_json::Value),
}

impl Next {
    /// Follow the edge of `action`.
    #[inline]
    pub fn to(action: impl Into<Action>) -> Self {
        Next::To(action.into())
    }

    /// The action to route on, or `None` for [`Next::End`].
    pub fn action(&self) -> Option<&Action> {
        match self {
            Next::To(a) => Some(a),
            Next::Default => Some(&DEFAULT_ACTION),
            Next::End | Next::Interrupt(_) => None,
        }
    }
}

impl From<Action> for Next {
    fn from(action: Action) -> Self {
        Next::To(action)
    }
}

impl From<&'static str> for Next {
    #[inline]
    fn from(action: &'static str) -> Self {
        Next::To(Action::new(action))
    }
}
