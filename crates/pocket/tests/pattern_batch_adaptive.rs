//! Batches and adaptive fan-out.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pocket::pattern::{AdaptiveFanOut, Batches, TaskGauge};
use pocket::{Ctx, Next, Node, NodeError, Store, StoreView, exec_fn};
use tokio::time::{Instant, sleep};

/// Records (time, items in exec) at every start.
#[derive(Clone)]
struct Probe {
    now: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<(Duration, usize)>>>,
    start: Instant,
    work: Duration,
}

impl Probe {
    fn new(work: Duration) -> Self {
        Probe { now: Arc::default(), log: Arc::default(), start: Instant::now(), work }
    }
}

impl Node for Probe {
    type Input = u64;
    type Prep = u64;
    type Exec = u64;
    type Output = u64;
    async fn prep(&self, _: &Ctx<'_>, _: &StoreView, i: &u64) -> Result<u64, NodeError> {
        Ok(*i)
    }
    async fn exec(&self, _: &Ctx<'_>, i: &u64) -> Result<u64, NodeError> {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.log.lock().unwrap().push((self.start.elapsed(), n));
        sleep(self.work).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        if *i == 999 {
            return Err(NodeError::fatal_msg("poison item"));
        }
        Ok(*i)
    }
    async fn post(&self, _: &Ctx<'_>, _: &Store, _: u64, _: u64, e: u64) -> Result<(u64, Next), NodeError> {
        Ok((e, Next::Default))
    }
}

#[tokio::test(start_paused = true)]
async fn batches_run_one_after_another_with_a_pause_and_bounded_concurrency() {
    let probe = Probe::new(Duration::from_millis(10));
    let gauge = TaskGauge::new();
    let batches = Batches::new(probe.clone(), 4).limit(2).pause(Duration::from_millis(100)).gauge(gauge.clone());
    let start = Instant::now();
    let out = batches.run(&Store::new(), 0..10u64).await.unwrap();
    assert_eq!(out, (0..10).collect::<Vec<_>>());
    // batches of 4,4,2 with 2 at a time: 20ms + 100 + 20ms + 100 + 10ms
    assert_eq!(start.elapsed(), Duration::from_millis(250));
    assert_eq!(gauge.peak(), 2);
    assert!(probe.log.lock().unwrap().iter().all(|(_, n)| *n <= 2));
}

#[tokio::test(start_paused = true)]
async fn a_failing_item_names_its_batch_and_index_and_stops_later_batches() {
    let probe = Probe::new(Duration::from_millis(10));
    let items = vec![1, 2, 3, 4, 5, 999, 7, 8, 9];
    let err = Batches::new(probe.clone(), 3).name("score").run(&Store::new(), items).await.unwrap_err();
    assert_eq!((err.batch, err.item), (1, 5));
    assert_eq!(pocket::report(&err), "batch 1, item 5 failed: node `score` failed in exec: poison item");
    assert_eq!(probe.log.lock().unwrap().len(), 6, "the third batch never started");
}

#[tokio::test(start_paused = true)]
async fn adaptive_fan_out_follows_a_changing_load_signal_while_running() {
    let load = Arc::new(AtomicU64::new(0.9f64.to_bits()));
    let l = load.clone();
    let probe = Probe::new(Duration::from_millis(10));
    let changes = Arc::new(Mutex::new(Vec::new()));
    let c = changes.clone();
    let fan = AdaptiveFanOut::new(probe.clone(), 2, 8)
        .signal(move || f64::from_bits(l.load(Ordering::SeqCst)))
        .interval(Duration::from_millis(20))
        .on_change(move |workers, load| c.lock().unwrap().push((workers, load)));
    // Drop the load after 100 ms.
    tokio::spawn(async move {
        sleep(Duration::from_millis(100)).await;
        load.store(0.1f64.to_bits(), Ordering::SeqCst);
    });
    let out = fan.run(&Store::new(), 0..200u64).await.unwrap();
    assert_eq!(out.len(), 200);
    let log = probe.log.lock().unwrap();
    let early = log.iter().filter(|(t, _)| *t < Duration::from_millis(100)).map(|(_, n)| *n).max().unwrap();
    let late = log.iter().filter(|(t, _)| *t > Duration::from_millis(150)).map(|(_, n)| *n).max().unwrap();
    assert_eq!(early, 2, "high load: the minimum");
    assert_eq!(late, 8, "low load: the maximum, re-evaluated mid-run");
    assert_eq!(*changes.lock().unwrap(), [(2, 0.9), (8, 0.1)]);
}

#[tokio::test]
async fn the_system_load_signal_reads_something_sensible() {
    use pocket::pattern::LoadSignal;
    let load = pocket::pattern::SystemLoad.load();
    assert!(load.is_finite() && load >= 0.0, "{load}");
    let fan = AdaptiveFanOut::new(exec_fn(|x: u8| async move { Ok(x) }), 1, 4);
    assert_eq!(fan.run(&Store::new(), 0..10u8).await.unwrap().len(), 10);
}

#[tokio::test(start_paused = true)]
async fn adaptive_fan_out_stops_when_cancelled() {
    let token = pocket::CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        sleep(Duration::from_millis(50)).await;
        t.cancel();
    });
    let fan = AdaptiveFanOut::new(Probe::new(Duration::from_secs(3600)), 2, 4).signal(|| 0.1);
    let start = Instant::now();
    let err = fan.run_with(&Store::new(), 0..100u64, &token).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(50));
    assert_eq!(err.index, 0);
}
