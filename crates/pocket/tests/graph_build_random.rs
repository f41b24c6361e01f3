//! Randomised graph building: for many random graphs (fixed seeds), `build()` reports exactly the
//! problems an independent count predicts, and a valid graph keeps every edge.

use std::collections::{HashMap, HashSet};

use pocket::error::BuildProblem;
use pocket::{Graph, exec_fn};

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn build_reports_exactly_the_predicted_problems() {
    let (mut valid, mut invalid) = (0, 0);
    for seed in 1..300u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let count = 1 + rng.below(8) as usize;
        // Names, with an occasional duplicate.
        let names: Vec<String> = (0..count)
            .map(|i| if i > 0 && rng.below(6) == 0 { format!("n{}", i - 1) } else { format!("n{i}") })
            .collect();
        // Edges between known and (sometimes) unknown names, over a few actions.
        let edges: Vec<(String, &str, String)> = (0..rng.below(12))
            .map(|_| {
                let pick = |rng: &mut Rng| {
                    if rng.below(7) == 0 {
                        "ghost".to_string()
                    } else {
                        names[rng.below(count as u64) as usize].clone()
                    }
                };
                let from = pick(&mut rng);
                let to = pick(&mut rng);
                let action = ["default", "a", "b"][rng.below(3) as usize];
                (from, action, to)
            })
            .collect();

        // The independent prediction.
        let mut seen = HashSet::new();
        let duplicates = names.iter().filter(|n| !seen.insert(n.as_str())).count();
        let known: HashSet<&str> = names.iter().map(String::as_str).collect();
        let mut unknown = 0;
        let mut first_target: HashMap<(&str, &str), &str> = HashMap::new();
        let mut duplicate_edges = 0;
        let mut kept = Vec::new();
        for (from, action, to) in &edges {
            let missing = usize::from(!known.contains(from.as_str())) + usize::from(!known.contains(to.as_str()));
            unknown += missing;
            if missing > 0 {
                continue;
            }
            if first_target.insert((from.as_str(), action), to.as_str()).is_some() {
                duplicate_edges += 1;
            } else {
                kept.push((from.clone(), action.to_string(), to.clone()));
            }
        }

        let mut builder = Graph::<i64, i64>::builder();
        for name in &names {
            builder = builder.node(name.clone(), exec_fn(|x: i64| async move { Ok(x) }));
        }
        for (from, action, to) in &edges {
            builder = builder.edge(from.clone(), *action, to.clone());
        }
        match builder.build() {
            Ok(graph) => {
                valid += 1;
                assert_eq!((duplicates, unknown, duplicate_edges), (0, 0, 0), "seed {seed}");
                let built: Vec<(String, String, String)> =
                    graph.edges().into_iter().map(|(f, a, t)| (f.to_string(), a.to_string(), t.to_string())).collect();
                let mut expected = kept.clone();
                expected.sort();
                let mut built_sorted = built.clone();
                built_sorted.sort();
                assert_eq!(built_sorted, expected, "seed {seed}");
            }
            Err(err) => {
                invalid += 1;
                let count_of = |f: fn(&BuildProblem) -> bool| err.problems.iter().filter(|p| f(p)).count();
                assert_eq!(
                    count_of(|p| matches!(p, BuildProblem::DuplicateNode { .. })),
                    duplicates,
                    "seed {seed}: {err}"
                );
                assert_eq!(count_of(|p| matches!(p, BuildProblem::UnknownNode { .. })), unknown, "seed {seed}: {err}");
                assert_eq!(
                    count_of(|p| matches!(p, BuildProblem::DuplicateEdge { .. })),
                    duplicate_edges,
                    "seed {seed}: {err}"
                );
                assert_eq!(err.problems.len(), duplicates + unknown + duplicate_edges, "seed {seed}: {err}");
            }
        }
    }
    assert!(valid > 30 && invalid > 30, "both outcomes are exercised: {valid} valid, {invalid} invalid");
}
