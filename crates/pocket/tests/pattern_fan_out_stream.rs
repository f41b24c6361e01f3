//! Fan-out over a stream: results handed on in input order, the stream read only as items
//! start, at most a window of items between the stream and the consumer, cancellation.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use pocket::{CancellationToken, FanOut, RunError, Store, exec_fn};
use tokio::time::sleep;

/// Deterministic pseudo-random delays.
fn delay_ms(i: u64) -> u64 {
    (i.wrapping_mul(2_654_435_761) >> 7) % 97
}

fn slow_double() -> impl pocket::Node<Input = u64, Output = u64> {
    exec_fn(|i: u64| async move {
        sleep(Duration::from_millis(delay_ms(i))).await;
        Ok(i * 2)
    })
}

#[tokio::test(start_paused = true)]
async fn results_are_handed_on_in_order_and_the_stream_is_read_only_within_the_window() {
    for (limit, window) in [(1, 1), (4, 4), (7, 20), (16, 64)] {
        let read = Arc::new(AtomicUsize::new(0));
        let counter = read.clone();
        let items = futures_util::stream::iter(0..500u64).inspect(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let mut out = Vec::new();
        let mut most_ahead = 0;
        FanOut::new(slow_double())
            .limit(limit)
            .run_stream_with(&Store::new(), items, &CancellationToken::new(), window, |index, result| {
                assert_eq!(index, out.len());
                // Read ahead of what was handed on: the items in the window and the one
                // waiting for its start.
                most_ahead = most_ahead.max(read.load(Ordering::SeqCst) - index);
                out.push(result.unwrap());
                true
            })
            .await;
        assert_eq!(out, (0..500u64).map(|i| i * 2).collect::<Vec<_>>(), "limit {limit}");
        assert!(most_ahead <= window + 1, "limit {limit} window {window}: read {most_ahead} ahead");
        assert!(most_ahead >= window.min(limit), "limit {limit}: the window was not used ({most_ahead})");
    }
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_waits_is_waited_for() {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(1);
    let items = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    tokio::spawn(async move {
        for i in 0..20 {
            sleep(Duration::from_millis(5)).await;
            tx.send(i).await.unwrap();
        }
    });
    let mut out = Vec::new();
    FanOut::new(slow_double())
        .limit(3)
        .run_stream_with(&Store::new(), items, &CancellationToken::new(), 3, |_, r| {
            out.push(r.unwrap());
            true
        })
        .await;
    assert_eq!(out, (0..20u64).map(|i| i * 2).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn a_consumer_that_says_stop_ends_the_run_and_the_stream_is_not_read_on() {
    let read = Arc::new(AtomicUsize::new(0));
    let counter = read.clone();
    let items = futures_util::stream::iter(0..1_000_000u64).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let mut handed = 0;
    FanOut::new(slow_double())
        .limit(4)
        .run_stream_with(&Store::new(), items, &CancellationToken::new(), 8, |_, _| {
            handed += 1;
            handed < 10
        })
        .await;
    assert_eq!(handed, 10);
    assert!(read.load(Ordering::SeqCst) <= 10 + 8 + 1, "read {}", read.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn cancelling_hands_on_the_items_in_flight_as_cancelled_and_reads_no_further() {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        sleep(Duration::from_millis(150)).await;
        cancel.cancel();
    });
    let node = exec_fn(|i: u64| async move {
        sleep(Duration::from_millis(if i == 5 { 10_000 } else { 20 })).await;
        Ok(i)
    });
    let (mut ok, mut cancelled) = (Vec::new(), Vec::new());
    FanOut::new(node)
        .limit(2)
        .run_stream_with(&Store::new(), futures_util::stream::iter(0..1_000_000u64), &token, 4, |index, result| {
            match result {
                Ok(_) => ok.push(index),
                Err(e) => {
                    assert!(matches!(e.error, RunError::Cancelled { .. }), "{e}");
                    cancelled.push(index);
                }
            }
            true
        })
        .await;
    // Item 5 holds the window (4): 6, 7 and 8 finish behind it and wait; the cancellation
    // hands 5 on as cancelled, the finished ones after it, and 9 — read, waiting for its
    // start — as cancelled; nothing more is read.
    assert_eq!(cancelled, [5, 9]);
    assert_eq!(ok, [0, 1, 2, 3, 4, 6, 7, 8]);
}
