//! Scatter-gather: one request to several services, each with its own timeout; partial results.

use std::fmt;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::TaskGauge;
use super::engine::{self, Limit, Slot};
use crate::error::RunError;
use crate::node::{BoxNode, Node, run_node_unchecked};
use crate::store::Store;

/// One service of a scatter-gather that did not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The service took longer than its timeout and was abandoned.
    #[error("service `{service}` timed out after {after:?}")]
    TimedOut {
        /// The service's name.
        service: String,
        /// Its timeout.
        after: Duration,
    },
    /// The service failed.
    #[error("service `{service}` failed")]
    Failed {
        /// The service's name.
        service: String,
        /// Its error.
        #[source]
        error: RunError,
    },
}

impl ServiceError {
    /// The name of the service.
    pub fn service(&self) -> &str {
        match self {
            ServiceError::TimedOut { service, .. } | ServiceError::Failed { service, .. } => service,
        }
    }
}

/// What a scatter-gather collected: the answers that came back (in service order) and an
/// error for each service that did not answer.
#[derive(Debug)]
pub struct Gathered<O> {
    /// `(service, answer)` for each service that answered, in the order services were added.
    pub responses: Vec<(String, O)>,
    /// One error per service that failed or timed out, in service order.
    pub errors: Vec<ServiceError>,
}

/// The same request to several services at once, each with its own timeout; partial results
/// plus a per-service error list. Service `name` runs on the scope `name`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use pocket::{exec_fn, Store};
/// use pocket::pattern::ScatterGather;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let fast = exec_fn(|q: String| async move { Ok(format!("fast: {q}")) });
/// let slow = exec_fn(|q: String| async move {
///     tokio::time::sleep(Duration::from_secs(10)).await;
///     Ok(format!("slow: {q}"))
/// });
/// let gathered = ScatterGather::new()
///     .service("fast", fast, Duration::from_secs(1))
///     .service("slow", slow, Duration::from_secs(1))
///     .run(&Store::new(), "q".to_string())
///     .await;
/// assert_eq!(gathered.responses, [("fast".to_string(), "fast: q".to_string())]);
/// assert_eq!(gathered.errors[0].to_string(), "service `slow` timed out after 1s");
/// # });
/// ```
pub struct ScatterGather<I, O> {
    services: Vec<(String, BoxNode<I, O>, Duration)>,
    gauge: TaskGauge,
}

impl<I, O> fmt::Debug for ScatterGather<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScatterGather")
            .field("services", &self.services.iter().map(|(n, _, t)| (n, t)).collect::<Vec<_>>())
            .finish()
    }
}

impl<I: Clone + Send + Sync + 'static, O: Send + 'static> Default for ScatterGather<I, O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I: Clone + Send + Sync + 'static, O: Send + 'static> ScatterGather<I, O> {
    /// No services yet.
    pub fn new() -> Self {
        ScatterGather { services: Vec::new(), gauge: TaskGauge::new() }
    }

    /// Add a service with its own timeout.
    #[must_use]
    pub fn service(
        mut self,
        name: impl Into<String>,
        node: impl Node<Input = I, Output = O>,
        timeout: Duration,
    ) -> Self {
        self.services.push((name.into(), BoxNode::new(node), timeout));
        self
    }

    /// Count the running services on `gauge`.
    #[must_use]
    pub fn gauge(mut self, gauge: TaskGauge) -> Self {
        self.gauge = gauge;
        self
    }

    /// Send `request` to every service and gather what comes back.
    pub async fn run(&self, store: &Store, request: I) -> Gathered<O> {
        self.run_with(store, request, &CancellationToken::new()).await
    }

    /// [`ScatterGather::run`] under a cancellation token: cancelled services report
    /// [`ServiceError::Failed`] with a cancellation, and nothing waits for the others.
    pub async fn run_with(&self, store: &Store, request: I, token: &CancellationToken) -> Gathered<O> {
        let token = token.child_token();
        let launch =
            |slot: Slot, ()| {
                let (name, node, timeout) = &self.services[slot.index()];
                let scope = store.scope(name);
                let (request, token) = (request.clone(), &token);
                async move {
                    let result =
                        match tokio::time::timeout(*timeout, run_node_unchecked(node, name, &scope, request, token))
                            .await
                        {
                            Ok(Ok((out, _))) => Ok(out),
                            Ok(Err(error)) => Err(ServiceError::Failed { service: name.clone(), error }),
                            Err(_) => Err(ServiceError::TimedOut { service: name.clone(), after: *timeout }),
                        };
                    (slot, result)
                }
            };
        let cancelled = |i: usize| {
            let service = self.services[i].0.clone();
            ServiceError::Failed { error: RunError::Cancelled { node: service.clone() }, service }
        };
        let results = engine::all(
            std::iter::repeat_n((), self.services.len()),
            launch,
            &mut Limit(None),
            &self.gauge,
            &token,
            cancelled,
        )
        .await;
        let mut gathered = Gathered { responses: Vec::new(), errors: Vec::new() };
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Ok(out) => gathered.responses.push((self.services[i].0.clone(), out)),
                Err(error) => gathered.errors.push(error),
            }
        }
        gathered
    }
}
