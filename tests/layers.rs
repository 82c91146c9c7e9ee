//! The architecture rule, checked on the source: dependencies go one way,
//! core <- pipeline <- {storage, queues, jumpserver} <- http <- service (<- cli),
//! with no cycle between top-level modules and no process-wide key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const CORE: &[&str] = &[
    "guac",
    "render",
    "terminal",
    "playback",
    "encode",
    "engine",
    "keys",
    "thumbnails",
    "convert",
    "snapshot",
    "seal",
    "secret",
    "ids",
];

/// The layer of a top-level module; a module may import its own layer and below.
fn layer(module: &str) -> Option<u32> {
    Some(match module {
        m if CORE.contains(&m) => 0,
        "config" => 1,
        "pipeline" => 1,
        "storage" => 2,
        "queues" => 2,
        "jumpserver" => 3,
        "http" => 4,
        "telemetry" => 4,
        "service" => 5,
        _ => return None,
    })
}

/// Every `crate::<module>` a top-level module's files name, by module.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
            let module = first.trim_end_matches(".rs").to_string();
            if matches!(module.as_str(), "lib" | "main" | "cli") {
                continue;
            }
            // The pipeline's unit-test harness runs on the real SQLite adapter.
            if rel == Path::new("pipeline/testing.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let named = graph.entry(module.clone()).or_default();
            for (i, _) in text.match_indices("crate::") {
                let rest = &text[i + "crate::".len()..];
                let name: String =
                    rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !name.is_empty() && name != module {
                    named.insert(name);
                }
            }
        }
    }
    graph
}

#[test]
fn nothing_imports_upward() {
    let mut wrong = Vec::new();
    for (module, names) in imports() {
        let Some(own) = layer(&module) else {
            wrong.push(format!("{module} is not placed in a layer"));
            continue;
        };
        for name in names {
            match layer(&name) {
                Some(l) if l <= own => {}
                _ => wrong.push(format!("{module} imports crate::{name}")),
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layering:\n{}", wrong.join("\n"));
}

#[test]
fn the_pipeline_and_storage_know_no_jumpserver_and_no_http() {
    let graph = imports();
    for module in ["pipeline", "storage"] {
        let names = &graph[module];
        for forbidden in ["jumpserver", "http", "service", "config"] {
            assert!(!names.contains(forbidden), "{module} imports crate::{forbidden}");
        }
    }
    for core in CORE {
        if let Some(names) = graph.get(*core) {
            assert!(names.iter().all(|n| CORE.contains(&n.as_str())), "{core} imports {names:?}");
        }
    }
}

/// The pipeline owns the queue seam's traits; its adapters (SQLite, NATS)
/// live outside it and are chosen by `service`. Only the pipeline's own
/// unit-test harness (`pipeline/testing.rs`) runs on the real SQLite adapter.
#[test]
fn the_pipeline_imports_no_queue_adapter() {
    let pipeline = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/pipeline");
    let mut wrong = Vec::new();
    for entry in std::fs::read_dir(&pipeline).unwrap().flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "testing.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for adapter in ["crate::queues", "rusqlite", "async_nats"] {
            if text.contains(adapter) {
                wrong.push(format!("{} names {adapter}", path.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_cycle_between_top_level_modules() {
    let graph = imports();
    // Depth-first search for a back edge.
    fn visit<'a>(
        g: &'a BTreeMap<String, BTreeSet<String>>,
        n: &'a str,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<String> {
        if let Some(i) = path.iter().position(|p| *p == n) {
            return Some(path[i..].join(" -> ") + " -> " + n);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n);
        for next in g.get(n).into_iter().flatten() {
            if let Some(cycle) = visit(g, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(n);
        None
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        if let Some(cycle) = visit(&graph, n, &mut Vec::new(), &mut done) {
            panic!("import cycle: {cycle}");
        }
    }
}

#[test]
fn the_key_is_never_process_wide() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let seal = std::fs::read_to_string(src.join("seal.rs")).unwrap();
    assert!(!seal.contains("OnceLock") && !seal.contains("fn installed"), "seal.rs keeps a process key");
}
