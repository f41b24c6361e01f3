//! Worker pools and stream processing: back-pressure, ordering, draining, cancellation.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use pocket::layer::rate_limit::RateLimiter;
use pocket::pattern::{StreamProcessor, TaskGauge, WorkerPool};
use pocket::{CancellationToken, NodeError, Store, exec_fn};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep};

fn slow_square(ms: u64) -> impl pocket::Node<Input = u64, Output = u64> {
    exec_fn(move |x: u64| async move {
        sleep(Duration::from_millis(ms * (1 + x % 3))).await;
        if x == 13 {
            return Err(NodeError::msg("thirteen"));
        }
        Ok(x * x)
    })
}

#[tokio::test(start_paused = true)]
async fn a_pool_streams_results_as_they_finish_and_drains_on_close() {
    let gauge = TaskGauge::new();
    let mut pool = WorkerPool::builder(slow_square(10)).limit(3).capacity(4).gauge(gauge.clone()).start(&Store::new());
    for x in 0..20 {
        assert_eq!(pool.submit(x).await.unwrap(), x as usize);
    }
    pool.close();
    assert!(pool.submit(99).await.is_err(), "closed pools refuse work");
    let mut seen = Vec::new();
    while let Some(job) = pool.next().await {
        match job.result {
            Ok(v) => assert_eq!(v, (job.id * job.id) as u64),
            Err(e) => assert_eq!(pocket::report(&e), format!("node `{}` failed in exec: thirteen", e.node())),
        }
        seen.push(job.id);
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, (0..20).collect::<Vec<_>>(), "every queued job finished");
    assert_ne!(seen, sorted, "results come in completion order");
    assert_eq!(gauge.active(), 0);
    assert_eq!(gauge.peak(), 6, "3 workers + 3 jobs");
}

#[tokio::test(start_paused = true)]
async fn submit_waits_while_the_queue_is_full() {
    let mut pool = WorkerPool::builder(slow_square(1000)).limit(1).capacity(2).start(&Store::new());
    let start = Instant::now();
    for x in 0..3 {
        pool.submit(x).await.unwrap(); // one in the worker, two queued
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    pool.submit(3).await.unwrap(); // waits for the worker to take the next one
    assert!(start.elapsed() >= Duration::from_millis(1000));
}

#[tokio::test(start_paused = true)]
async fn abort_and_drop_stop_every_worker() {
    let gauge = TaskGauge::new();
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let node = exec_fn(move |x: u64| {
        s.fetch_add(1, Ordering::SeqCst);
        async move {
            sleep(Duration::from_secs(3600)).await;
            Ok(x)
        }
    });
    let mut pool = WorkerPool::builder(node).limit(4).capacity(16).gauge(gauge.clone()).start(&Store::new());
    for x in 0..10 {
        pool.submit(x).await.unwrap();
    }
    sleep(Duration::from_millis(1)).await;
    assert_eq!(started.load(Ordering::SeqCst), 4);
    pool.abort();
    pool.join().await;
    assert_eq!(gauge.active(), 0);
    assert!(pool.submit(1).await.is_err());

    let gauge = TaskGauge::new();
    let pool =
        WorkerPool::builder(slow_square(100_000)).limit(4).capacity(16).gauge(gauge.clone()).start(&Store::new());
    sleep(Duration::from_millis(1)).await;
    assert_eq!(gauge.active(), 4);
    drop(pool);
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(gauge.active(), 0);
}

#[tokio::test(start_paused = true)]
async fn ordered_and_unordered_streams() {
    let input = || futures_util::stream::iter(0..12u64);
    let ordered: Vec<_> = StreamProcessor::new(slow_square(5)).limit(4).run(&Store::new(), input()).collect().await;
    let indices: Vec<usize> =
        ordered.iter().map(|r| r.as_ref().map(|v| v.isqrt() as usize).unwrap_or_else(|e| e.index)).collect();
    assert_eq!(indices, (0..12).collect::<Vec<_>>());

    let unordered: Vec<_> =
        StreamProcessor::new(slow_square(5)).limit(4).unordered().run(&Store::new(), input()).collect().await;
    let values: Vec<u64> = unordered.into_iter().map(|r| r.unwrap()).collect();
    let mut sorted = values.clone();
    sorted.sort();
    assert_eq!(sorted, (0..12).map(|x| x * x).collect::<Vec<_>>());
    assert_ne!(values, sorted);
}

#[tokio::test(start_paused = true)]
async fn the_producer_blocks_while_the_buffer_is_full() {
    let (tx, mut rx) = mpsc::channel::<u64>(2);
    let input = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let fast = exec_fn(|x: u64| async move { Ok(x) });
    let gauge = TaskGauge::new();
    let mut out = StreamProcessor::new(fast).limit(3).buffer(2).gauge(gauge.clone()).run(&Store::new(), input);
    let produced = Arc::new(AtomicUsize::new(0));
    let p = produced.clone();
    let producer = tokio::spawn(async move {
        for x in 0..100 {
            tx.send(x).await.unwrap();
            p.fetch_add(1, Ordering::SeqCst);
        }
    });
    // Nobody reads the output: the pipeline fills up and the producer stalls.
    sleep(Duration::from_secs(1)).await;
    let stalled = produced.load(Ordering::SeqCst);
    // buffer (2) + one result held by the blocked send + items in flight (3) + the input channel (2)
    assert!(stalled <= 2 + 1 + 3 + 2, "producer ran ahead: {stalled}");
    sleep(Duration::from_secs(10)).await;
    assert_eq!(produced.load(Ordering::SeqCst), stalled, "still blocked");
    // Reading releases it.
    let mut got = Vec::new();
    while let Some(r) = out.next().await {
        got.push(r.unwrap());
        if got.len() == 100 {
            break;
        }
    }
    producer.await.unwrap();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    drop(out);
    tokio::task::yield_now().await;
    assert_eq!(gauge.active(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_stream_stops_promptly_on_cancellation_and_when_dropped() {
    let gauge = TaskGauge::new();
    let token = CancellationToken::new();
    let endless = futures_util::stream::iter(0u64..);
    let mut out =
        StreamProcessor::new(slow_square(10)).limit(5).gauge(gauge.clone()).run_with(&Store::new(), endless, &token);
    for _ in 0..10 {
        out.next().await.unwrap().ok();
    }
    token.cancel();
    let start = Instant::now();
    while out.next().await.is_some() {}
    assert!(start.elapsed() <= Duration::from_millis(1), "no waiting for items in flight");
    tokio::task::yield_now().await;
    assert_eq!(gauge.active(), 0);

    let gauge = TaskGauge::new();
    let out = StreamProcessor::new(slow_square(10))
        .gauge(gauge.clone())
        .run(&Store::new(), futures_util::stream::iter(0u64..));
    sleep(Duration::from_millis(5)).await;
    assert!(gauge.active() > 1);
    drop(out);
    tokio::task::yield_now().await;
    assert_eq!(gauge.active(), 0);
}

#[tokio::test(start_paused = true)]
async fn cancelling_stops_a_stream_whose_consumer_is_not_reading() {
    // The output buffer (1) fills and the consumer reads nothing: the driver waits to send.
    // Cancelling must still stop the driver and every item in flight at once.
    let gauge = TaskGauge::new();
    let token = CancellationToken::new();
    let out = StreamProcessor::new(slow_square(10)).limit(4).buffer(1).gauge(gauge.clone()).run_with(
        &Store::new(),
        futures_util::stream::iter(0u64..),
        &token,
    );
    sleep(Duration::from_secs(1)).await;
    assert!(gauge.active() > 1, "the driver and items are waiting on the full buffer");
    token.cancel();
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    assert_eq!(gauge.active(), 0, "nothing keeps running while the output is held");
    drop(out);
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_stream_is_paced() {
    let limiter = RateLimiter::new(100.0, 1).unwrap();
    let start = Instant::now();
    let out: Vec<_> = StreamProcessor::new(exec_fn(|x: u64| async move { Ok(x) }))
        .limit(50)
        .rate_limit(limiter)
        .run(&Store::new(), futures_util::stream::iter(0..101u64))
        .collect()
        .await;
    assert_eq!(out.len(), 101);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_pool_token_from_elsewhere_stops_it() {
    let gauge = TaskGauge::new();
    let node = exec_fn(|x: u64| async move {
        sleep(Duration::from_millis(if x < 2 { 1 } else { 3_600_000 })).await;
        Ok(x)
    });
    let mut pool = WorkerPool::builder(node).limit(2).capacity(8).gauge(gauge.clone()).start(&Store::new());
    for x in 0..6 {
        pool.submit(x).await.unwrap();
    }
    let token = pool.cancel_token();
    tokio::spawn(async move {
        sleep(Duration::from_secs(1)).await;
        token.cancel();
    });
    let start = Instant::now();
    let mut finished = Vec::new();
    while let Some(job) = pool.next().await {
        finished.push((job.id, job.result.is_ok()));
    }
    assert_eq!(start.elapsed(), Duration::from_secs(1), "stops at the cancellation, not after the slow jobs");
    assert!(finished.contains(&(0, true)) && finished.contains(&(1, true)));
    assert!(finished.iter().all(|(id, ok)| *ok || *id >= 2), "{finished:?}");
    pool.join().await;
    assert_eq!(gauge.active(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_producer_submits_while_the_consumer_reads_the_results_as_a_stream() {
    use futures_util::StreamExt;

    let gauge = TaskGauge::new();
    let mut pool = WorkerPool::builder(slow_square(10)).limit(2).capacity(2).gauge(gauge.clone()).start(&Store::new());
    let submitter = pool.submitter().expect("the pool is open");
    let producer = tokio::spawn(async move {
        for x in 0..20u64 {
            submitter.submit(x).await.expect("open while producing");
        }
    });
    // The queue holds 2: the producer can only finish because results are read meanwhile.
    let mut sum = 0;
    let mut seen = 0;
    while seen < 20 {
        let job = pool.next().await.expect("a result");
        sum += job.result.unwrap_or(0); // 13 fails by design
        seen += 1;
    }
    producer.await.unwrap();
    pool.close();
    assert!(pool.submitter().is_none());
    assert!(StreamExt::next(&mut pool).await.is_none(), "the stream ends after close");
    assert_eq!(sum, (0..20u64).filter(|x| *x != 13).map(|x| x * x).sum::<u64>());
    assert_eq!(gauge.active(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_submitter_does_not_keep_a_closed_pool_open_and_reserving_is_cancel_safe() {
    let mut pool = WorkerPool::builder(slow_square(1000)).limit(1).capacity(1).start(&Store::new());
    let submitter = pool.submitter().unwrap();
    submitter.submit(1).await.unwrap(); // taken by the worker
    submitter.submit(2).await.unwrap(); // fills the queue
    // No room: a reservation that loses a race is dropped without losing anything.
    let lost = tokio::time::timeout(Duration::from_millis(1), submitter.reserve()).await;
    assert!(lost.is_err(), "the queue is full");
    pool.close();
    let err = submitter.submit(3).await.unwrap_err();
    assert_eq!(err.0, 3, "the item is handed back");
    let mut ids = Vec::new();
    while let Some(job) = pool.next().await {
        ids.push(job.id);
    }
    ids.sort_unstable();
    assert_eq!(ids, [0, 1], "what was queued before closing is processed; nothing else");
}
