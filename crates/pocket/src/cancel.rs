//! A cheap cancellation check for hot loops.
//!
//! `CancellationToken::is_cancelled` takes a lock in tokio-util. A loop that checks between
//! every node or item instead registers one waker on the token and reads an atomic flag.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// Watches a token: [`Watch::is_cancelled`] is an atomic load. Cancelling the token (from any
/// thread, or from a step of the same task) sets the flag synchronously.
pub(crate) struct Watch<'a> {
    flag: Option<Arc<Flag>>,
    // Kept alive (registered with the token) for as long as the watch lives.
    _registration: Option<Pin<Box<WaitForCancellationFuture<'a>>>>,
}

impl<'a> Watch<'a> {
    pub(crate) fn new(token: &'a CancellationToken) -> Self {
        let flag = Arc::new(Flag::default());
        let mut registration = Box::pin(token.cancelled());
        if registration.as_mut().poll(&mut Context::from_waker(&Waker::from(flag.clone()))).is_ready() {
            flag.0.store(true, Ordering::Release);
        }
        Watch { flag: Some(flag), _registration: Some(registration) }
    }

    /// A watch of a token nobody can cancel (a run without options): free.
    pub(crate) fn idle() -> Self {
        Watch { flag: None, _registration: None }
    }

    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        self.flag.as_ref().is_some_and(|f| f.0.load(Ordering::Acquire))
    }
}

pin_project_lite::pin_project! {
    /// [`race`]'s future: a hand-written one (not an `async fn`) so that its `poll` is inlined
    /// into the run loop wherever it is used.
    pub(crate) struct Race<'a, F> {
        #[pin]
        fut: F,
        #[pin]
        cancelled: Option<WaitForCancellationFuture<'a>>,
        token: &'a CancellationToken,
    }
}

impl<F: Future> Future for Race<'_, F> {
    type Output = Option<F::Output>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(value) = this.fut.poll(cx) {
            return Poll::Ready(Some(value));
        }
        if this.cancelled.is_none() {
            this.cancelled.set(Some(this.token.cancelled()));
        }
        match this.cancelled.as_pin_mut().map(|c| c.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(None),
            _ => Poll::Pending,
        }
    }
}

/// Poll `fut`; only if it is not ready at once, also wait for `token` (so the common case of a
/// step that completes without waiting costs no cancellation bookkeeping). `None` when
/// cancelled first.
#[inline]
pub(crate) fn race<F: Future>(fut: F, token: &CancellationToken) -> Race<'_, F> {
    Race { fut, cancelled: None, token }
}
