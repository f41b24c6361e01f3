//! The one concurrency engine under every fan-out-like pattern: fan-out, batches, adaptive
//! fan-out, fan-in sources, run-concurrent, scatter-gather, concurrent sub-graphs and the
//! parallel branch of a fallback chain.
//!
//! It owns what those patterns must agree on:
//! * **how many at once**: a [`Schedule`] is asked before each start (a fixed limit, batches
//!   with pauses, a limit that follows the machine's load);
//! * **the failure policy**: `done` hears every result with its index and returns whether to go
//!   on; stopping cancels the items in flight (cooperative ones see it, the rest are dropped);
//! * **cancellation from outside**: items in flight see the token, cooperative ones finish with
//!   their own error, the rest are dropped, and every index not reported yet — started or not —
//!   is reported as cancelled, so `done` hears about every index unless it stopped early;
//! * **the task gauge**: every item counts on it from its start until it finishes or is dropped;
//! * **tokio's coop budget**: items are polled by this task's own scheduler (a
//!   `FuturesUnordered`), so they are exempt from tokio's per-task budget, which would
//!   otherwise make every item past the first 128 of a poll return `Pending` again and again.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::TaskGauge;
use super::gauge::TaskGuard;
use crate::cancel::Watch;

/// An item's place in the engine: its index and its count on the task gauge. A launched
/// item's future hands it back with its result, so the engine adds no future around the
/// item's own (an item future is hundreds of bytes: every extra layer is another copy of it).
pub(crate) struct Slot {
    index: usize,
    _task: TaskGuard,
}

impl Slot {
    /// The item's position in the input.
    pub(crate) fn index(&self) -> usize {
        self.index
    }
}

/// What a [`Schedule`] says about starting the next item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Start it now.
    Start,
    /// Wait until an item in flight finishes, then ask again.
    Wait,
    /// Wait until then (or until an item finishes), then ask again.
    SleepUntil(Instant),
}

/// How many items run at once: asked before each start with the number of items started so
/// far and the number in flight. A schedule that says [`Admit::Wait`] with nothing in flight
/// is taken to mean [`Admit::Start`] (there would be nothing to wait for).
pub(crate) trait Schedule {
    fn admit(&mut self, started: usize, in_flight: usize) -> Admit;
}

/// At most `n` at once (`None`: no limit).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limit(pub(crate) Option<usize>);

impl Schedule for Limit {
    fn admit(&mut self, _: usize, in_flight: usize) -> Admit {
        match self.0 {
            Some(n) if in_flight >= n => Admit::Wait,
            _ => Admit::Start,
        }
    }
}

/// Any function of the number in flight giving the current limit.
impl<F: FnMut(usize) -> usize> Schedule for F {
    fn admit(&mut self, _: usize, in_flight: usize) -> Admit {
        if in_flight >= self(in_flight).max(1) { Admit::Wait } else { Admit::Start }
    }
}

/// Run `launch(slot, item)` for every item under `schedule`, reporting each result to `done`
/// (see the module docs for the policy). The launched future returns the slot with the result
/// (dropping the slot is when the item stops counting as alive). `token` is the run's token
/// for these items: the engine cancels it when `done` stops early, so callers pass a child of
/// their own.
pub(crate) async fn run<I, T, E, Fut>(
    items: impl IntoIterator<Item = I>,
    launch: impl FnMut(Slot, I) -> Fut,
    schedule: &mut impl Schedule,
    gauge: &TaskGauge,
    token: &CancellationToken,
    done: impl FnMut(usize, Result<T, E>) -> bool,
    cancelled: impl Fn(usize) -> E,
) where
    Fut: Future<Output = (Slot, Result<T, E>)>,
{
    run_source(Listed(items.into_iter()), launch, schedule, gauge, token, done, cancelled).await;
}

/// Where the engine's items come from: a list (every pattern's items are known at the start)
/// or a stream read as items are started (the `map` node's file of items), so that no more
/// than the one item waiting for its start is read ahead.
pub(crate) trait Source {
    type Item;
    /// The next item, `Ready(None)` when there are no more, or `Pending` (then `cx` is woken
    /// when there is one).
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Self::Item>>;
    /// How many items are left, not started, once the run is cancelled: a list's are reported
    /// as cancelled; a stream's are not read.
    fn left(self) -> usize;
}

/// Items of a list.
pub(crate) struct Listed<It>(pub(crate) It);

impl<It: Iterator> Source for Listed<It> {
    type Item = It::Item;

    #[inline]
    fn poll_item(&mut self, _: &mut Context<'_>) -> Poll<Option<It::Item>> {
        Poll::Ready(self.0.next())
    }

    fn left(self) -> usize {
        self.0.count()
    }
}

/// Items of a stream.
pub(crate) struct Streamed<S>(pub(crate) S);

impl<S: futures_util::Stream + Unpin> Source for Streamed<S> {
    type Item = S::Item;

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        futures_util::Stream::poll_next(std::pin::Pin::new(&mut self.0), cx)
    }

    fn left(self) -> usize {
        0
    }
}

/// [`run`] over a [`Source`].
pub(crate) async fn run_source<S: Source, T, E, Fut>(
    mut source: S,
    mut launch: impl FnMut(Slot, S::Item) -> Fut,
    schedule: &mut impl Schedule,
    gauge: &TaskGauge,
    token: &CancellationToken,
    mut done: impl FnMut(usize, Result<T, E>) -> bool,
    cancelled: impl Fn(usize) -> E,
) where
    Fut: Future<Output = (Slot, Result<T, E>)>,
{
    let watch = Watch::new(token);
    // The next item, read and waiting for its start; `ended` once the source has no more.
    let mut next: Option<S::Item> = None;
    let mut ended = false;
    let mut running = FuturesUnordered::new();
    // One bit per started item, cleared when it is reported: cheap bookkeeping for the rare
    // cancellation path.
    let mut in_flight = Bits::default();
    let mut started = 0;
    let mut on_cancel = pin!(None);
    loop {
        let mut wake_at = None;
        while !watch.is_cancelled() {
            if next.is_none() && !ended {
                // A stream that is not ready is polled again below, with this task's waker.
                match source.poll_item(&mut Context::from_waker(Waker::noop())) {
                    Poll::Ready(Some(item)) => next = Some(item),
                    Poll::Ready(None) => ended = true,
                    Poll::Pending => {}
                }
            }
            if next.is_none() {
                break;
            }
            match schedule.admit(started, running.len()) {
                Admit::Wait if !running.is_empty() => break,
                Admit::SleepUntil(at) if at > Instant::now() => {
                    wake_at = Some(at);
                    break;
                }
                Admit::Start | Admit::Wait | Admit::SleepUntil(_) => {
                    let item = next.take().expect("checked");
                    let index = started;
                    in_flight.set(index);
                    started += 1;
                    let slot = Slot { index, _task: gauge.enter() };
                    running.push(tokio::task::unconstrained(launch(slot, item)));
                }
            }
        }
        // Results are taken as they come inside one poll while there is nothing left to start;
        // otherwise each result goes back to the schedule, which may start the next item. The token's future is made once, and only polled
        // when no item is ready: a ready item costs no cancellation bookkeeping.
        let exhausted = ended && next.is_none();
        let mut sleep = wake_at.map(|at| Box::pin(tokio::time::sleep_until(at)));
        let sleeping = sleep.is_some();
        let event = poll_fn(|cx| {
            while !running.is_empty() {
                let Poll::Ready(Some((slot, result))) = running.poll_next_unpin(cx) else { break };
                let index = slot.index;
                drop(slot);
                in_flight.clear(index);
                if !done(index, result) {
                    return Poll::Ready(Event::Stop);
                }
                if !exhausted {
                    return Poll::Ready(Event::Progress);
                }
            }
            if on_cancel.is_none() {
                on_cancel.set(Some(token.cancelled()));
            }
            if let Some(c) = on_cancel.as_mut().as_pin_mut()
                && c.poll(cx).is_ready()
            {
                return Poll::Ready(Event::Cancelled);
            }
            if sleeping
                && let Some(sleep) = sleep.as_mut()
                && sleep.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(Event::Progress);
            }
            // A stream not ready before: wait for its next item with this task's waker.
            if next.is_none() && !ended {
                match source.poll_item(cx) {
                    Poll::Ready(Some(item)) => {
                        next = Some(item);
                        return Poll::Ready(Event::Progress);
                    }
                    Poll::Ready(None) => {
                        ended = true;
                        if running.is_empty() && !sleeping {
                            return Poll::Ready(Event::Done);
                        }
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            if running.is_empty() && !sleeping {
                return Poll::Ready(if exhausted { Event::Done } else { Event::Progress });
            }
            Poll::Pending
        })
        .await;
        match event {
            Event::Progress => {}
            Event::Done => return,
            Event::Stop => {
                token.cancel();
                settle(&mut running).await;
                return;
            }
            Event::Cancelled => {
                // Cancelled from outside: let cooperative items finish, report the rest.
                for (slot, result) in settle(&mut running).await {
                    let index = slot.index;
                    drop(slot);
                    in_flight.clear(index);
                    if !done(index, result) {
                        return;
                    }
                }
                drop(running);
                let waiting = usize::from(next.is_some());
                let rest = in_flight.ones().chain(started..started + waiting + source.left());
                for index in rest {
                    if !done(index, Err(cancelled(index))) {
                        return;
                    }
                }
                return;
            }
        }
    }
}

enum Event {
    /// A result came in, a pause ended, or nothing is in flight: start more items.
    Progress,
    /// Every item was reported.
    Done,
    /// `done` asked to stop.
    Stop,
    /// The token was cancelled from outside.
    Cancelled,
}

/// Fail fast: results in input order, or the first failure with its index (the other items
/// are cancelled).
pub(crate) async fn fail_fast<I, T, E, Fut>(
    items: impl IntoIterator<Item = I>,
    launch: impl FnMut(Slot, I) -> Fut,
    schedule: &mut impl Schedule,
    gauge: &TaskGauge,
    token: &CancellationToken,
    cancelled: impl Fn(usize) -> E,
) -> Result<Vec<T>, (usize, E)>
where
    Fut: Future<Output = (Slot, Result<T, E>)>,
{
    let items = items.into_iter();
    let mut results = Vec::with_capacity(items.size_hint().0);
    let mut failure = None;
    let done = |index, result| match result {
        Ok(value) => {
            place(&mut results, index, value);
            true
        }
        Err(error) => {
            failure = Some((index, error));
            false
        }
    };
    run(items, launch, schedule, gauge, token, done, cancelled).await;
    match failure {
        Some(failure) => Err(failure),
        None => Ok(results.into_iter().map(|r| r.expect("every item finished")).collect()),
    }
}

/// Run every item to its end: one result per item, in input order.
pub(crate) async fn all<I, T, E, Fut>(
    items: impl IntoIterator<Item = I>,
    launch: impl FnMut(Slot, I) -> Fut,
    schedule: &mut impl Schedule,
    gauge: &TaskGauge,
    token: &CancellationToken,
    cancelled: impl Fn(usize) -> E,
) -> Vec<Result<T, E>>
where
    Fut: Future<Output = (Slot, Result<T, E>)>,
{
    let items = items.into_iter();
    let mut results = Vec::with_capacity(items.size_hint().0);
    let done = |index, result| {
        place(&mut results, index, result);
        true
    };
    run(items, launch, schedule, gauge, token, done, cancelled).await;
    results.into_iter().map(|r| r.expect("every item was reported")).collect()
}

#[inline]
fn place<T>(results: &mut Vec<Option<T>>, index: usize, value: T) {
    if results.len() <= index {
        results.resize_with(index + 1, || None);
    }
    results[index] = Some(value);
}

/// A growable bit set of item indices.
#[derive(Default)]
struct Bits(Vec<u64>);

impl Bits {
    #[inline]
    fn set(&mut self, i: usize) {
        let word = i / 64;
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (i % 64);
    }

    #[inline]
    fn clear(&mut self, i: usize) {
        if let Some(word) = self.0.get_mut(i / 64) {
            *word &= !(1 << (i % 64));
        }
    }

    /// The set indices, ascending.
    fn ones(self) -> impl Iterator<Item = usize> {
        self.0
            .into_iter()
            .enumerate()
            .flat_map(|(w, word)| (0..64).filter(move |b| word & (1 << b) != 0).map(move |b| w * 64 + b))
    }
}

/// Poll the remaining futures once more so that cooperative ones observe the cancellation, and
/// return what they produced; whatever is still pending is then dropped by the caller.
pub(crate) async fn settle<F: Future>(running: &mut FuturesUnordered<F>) -> Vec<F::Output> {
    let mut finished = Vec::new();
    {
        let mut drain = pin!(async {
            while let Some(out) = running.next().await {
                finished.push(out);
            }
        });
        let _ = futures_util::FutureExt::now_or_never(drain.as_mut());
    }
    finished
}
