//! The house rules, checked on every CI run (DESIGN.md "Layout", issue 9):
//!
//! - crates are layered: a crate depends only on crates below it in [`CRATE_ORDER`];
//! - no two modules of a crate import each other in a circle (through `crate::`, `super::` or `self::`
//!   paths, in `use` items or inline);
//! - no production file over [`MAX_FILE_LINES`] lines and no production function over [`MAX_FN_LINES`].
//!
//! Production code is every `src/**/*.rs` of a workspace crate, less `#[cfg(test)]` items. The checker's own
//! tests feed it small synthetic crates, so that a rule that can no longer fail is noticed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::spanned::Spanned;
use syn::visit::Visit;

/// The crates from the ground floor up: each may depend only on crates before it.
const CRATE_ORDER: &[&str] = &[
    "stackbox-common",
    "stackbox-hardware-profiles",
    "stackbox-machine",
    "stackbox-network",
    "stackbox-firstboot",
    "stackbox-image",
    "stackbox-installer",
    "stackbox-cluster",
    "stackbox-web",
    "stackbox",
];

/// The longest a production file may be.
const MAX_FILE_LINES: usize = 800;
/// The longest a production function may be, from its signature to its closing brace.
const MAX_FN_LINES: usize = 100;

/// The workspace checked: this one, or another checkout named by `HOUSE_ROOT` (to measure an older tree
/// with `HOUSE_REPORT=1`).
fn workspace() -> PathBuf {
    std::env::var_os("HOUSE_ROOT")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// A workspace member: its package name and directory.
struct Member {
    name: String,
    dir: PathBuf,
    deps: Vec<String>,
}

fn members() -> Vec<Member> {
    let root = workspace();
    let manifest: toml::Table = read(&root.join("Cargo.toml"))
        .parse()
        .expect("root Cargo.toml");
    let dirs = manifest["workspace"]["members"]
        .as_array()
        .expect("workspace.members");
    dirs.iter()
        .map(|d| {
            let dir = root.join(d.as_str().expect("member path"));
            let table: toml::Table = read(&dir.join("Cargo.toml"))
                .parse()
                .expect("member Cargo.toml");
            let name = table["package"]["name"]
                .as_str()
                .expect("package.name")
                .to_owned();
            let deps = ["dependencies", "dev-dependencies", "build-dependencies"]
                .iter()
                .filter_map(|k| table.get(*k).and_then(|t| t.as_table()))
                .flat_map(|t| t.keys().cloned())
                .filter(|k| k.starts_with("stackbox"))
                .collect();
            Member { name, dir, deps }
        })
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The module path of a source file relative to its crate's `src/`: `lib.rs` and `main.rs` are the root
/// (empty), `a/mod.rs` and `a.rs` are `a`, `a/b.rs` is `a::b`. Binaries under `src/bin/` are roots of their own.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if parts.first().is_some_and(|p| p == "bin") {
        return vec![format!("bin:{stem}")];
    }
    if !matches!(stem, "lib" | "main" | "mod") {
        parts.push(stem.to_owned());
    }
    parts
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .is_ok_and(|l| l.tokens.to_string() == "test")
    })
}

/// What one file says about the rules: its functions' lengths and the module paths it names.
#[derive(Default)]
struct FileFacts {
    production_lines: usize,
    long_fns: Vec<(String, usize)>,
    /// The longest function, for `HOUSE_REPORT=1`.
    longest_fn: (String, usize),
    /// Absolute module paths (from the crate root) named through `crate::`, `super::` or `self::`.
    named: BTreeSet<Vec<String>>,
    /// Names this file re-exports (`pub use a::B;`), with the absolute path each stands for.
    reexports: BTreeMap<String, Vec<String>>,
}

struct Walker<'a> {
    module: &'a [String],
    known: &'a BTreeSet<Vec<String>>,
    facts: FileFacts,
}

impl Walker<'_> {
    fn function(&mut self, name: String, span: proc_macro2::Span) {
        let lines = span.end().line - span.start().line + 1;
        if lines > self.facts.longest_fn.1 {
            self.facts.longest_fn = (name.clone(), lines);
        }
        if lines > MAX_FN_LINES {
            self.facts.long_fns.push((name, lines));
        }
    }

    /// Resolves `crate::a::b`, `super::a` or `self::a` to an absolute path; other paths are external.
    fn resolve(&self, segments: &[String]) -> Option<Vec<String>> {
        let mut base: Vec<String> = self.module.to_vec();
        let mut rest = segments;
        match rest.first().map(String::as_str) {
            Some("crate") => {
                base.clear();
                rest = &rest[1..];
            }
            Some("super") => {
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
            }
            Some("self") => rest = &rest[1..],
            // A bare path that starts with a child module of this one is relative to it.
            Some(first)
                if self
                    .known
                    .contains(&[self.module, &[first.to_owned()]].concat()) => {}
            _ => return None,
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    fn name(&mut self, segments: Vec<String>) {
        if let Some(path) = self.resolve(&segments) {
            self.facts.named.insert(path);
        }
    }

    fn reexport(&mut self, alias: String, segments: Vec<String>) {
        if let Some(path) = self.resolve(&segments) {
            self.facts.reexports.insert(alias, path);
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree, public: bool) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree, public);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut full = prefix.clone();
                if n.ident != "self" {
                    full.push(n.ident.to_string());
                }
                if public && let Some(last) = full.last() {
                    self.reexport(last.clone(), full.clone());
                }
                self.name(full);
            }
            syn::UseTree::Rename(r) => {
                let mut full = prefix.clone();
                full.push(r.ident.to_string());
                if public {
                    self.reexport(r.rename.to_string(), full.clone());
                }
                self.name(full);
            }
            syn::UseTree::Glob(_) => self.name(prefix.clone()),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t, public);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Walker<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_cfg_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if is_cfg_test(&f.attrs) {
            return;
        }
        self.function(f.sig.ident.to_string(), f.span());
        syn::visit::visit_item_fn(self, f);
    }
    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        if !is_cfg_test(&i.attrs) {
            syn::visit::visit_item_impl(self, i);
        }
    }
    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.function(f.sig.ident.to_string(), f.span());
        syn::visit::visit_impl_item_fn(self, f);
    }
    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if f.default.is_some() {
            self.function(f.sig.ident.to_string(), f.span());
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if !is_cfg_test(&u.attrs) {
            let public = !matches!(u.vis, syn::Visibility::Inherited);
            self.use_tree(&mut Vec::new(), &u.tree, public);
        }
    }
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {
        // `pub(crate)` and `pub(super)` name no item.
    }
    fn visit_path(&mut self, p: &'ast syn::Path) {
        self.name(p.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, p);
    }
}

/// Parses one file of the module `module`.
fn file_facts(
    module: &[String],
    known: &BTreeSet<Vec<String>>,
    source: &str,
) -> Result<FileFacts, syn::Error> {
    let file = syn::parse_file(source)?;
    let mut walker = Walker {
        module,
        known,
        facts: FileFacts::default(),
    };
    walker.visit_file(&file);
    let test_lines: usize = file
        .items
        .iter()
        .filter(|i| match i {
            syn::Item::Mod(m) => is_cfg_test(&m.attrs),
            syn::Item::Fn(f) => is_cfg_test(&f.attrs),
            _ => false,
        })
        .map(|i| i.span().end().line - i.span().start().line + 1)
        .sum();
    walker.facts.production_lines = source.lines().count().saturating_sub(test_lines);
    Ok(walker.facts)
}

/// The problems of one crate, given its files as (path relative to `src/`, source).
fn crate_problems(name: &str, files: &[(PathBuf, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    let modules: BTreeMap<Vec<String>, &Path> = files
        .iter()
        .map(|(rel, _)| (module_path(rel), rel.as_path()))
        .collect();
    let known: BTreeSet<Vec<String>> = modules.keys().cloned().collect();
    let mut parsed = Vec::new();
    for (rel, source) in files {
        let module = module_path(rel);
        match file_facts(&module, &known, source) {
            Ok(facts) => parsed.push((rel, module, facts)),
            Err(e) => problems.push(format!("{name}: {}: does not parse: {e}", rel.display())),
        }
    }
    let reexports: BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>> = parsed
        .iter()
        .map(|(_, m, f)| (m.clone(), f.reexports.clone()))
        .collect();
    if std::env::var_os("HOUSE_REPORT").is_some() {
        // The figures a restructure is judged by: the longest file and the longest function.
        let file = parsed.iter().max_by_key(|(_, _, f)| f.production_lines);
        let func = parsed.iter().max_by_key(|(_, _, f)| f.longest_fn.1);
        if let (Some((fr, _, ff)), Some((gr, _, gf))) = (file, func) {
            eprintln!(
                "house: {name}: longest file {} ({} lines), longest fn {}::{} ({} lines)",
                fr.display(),
                ff.production_lines,
                gr.display(),
                gf.longest_fn.0,
                gf.longest_fn.1
            );
        }
    }
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (rel, module, facts) in parsed {
        if facts.production_lines > MAX_FILE_LINES {
            problems.push(format!(
                "{name}: {}: {} production lines (at most {MAX_FILE_LINES})",
                rel.display(),
                facts.production_lines
            ));
        }
        for (f, lines) in facts.long_fns {
            problems.push(format!(
                "{name}: {}: fn {f} has {lines} lines (at most {MAX_FN_LINES})",
                rel.display()
            ));
        }
        for named in facts.named {
            if let Some(target) = defining_module(&named, &known, &reexports)
                && target != module
            {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    for cycle in cycles(&edges) {
        let shown: Vec<String> = cycle
            .iter()
            .map(|m| {
                modules
                    .get(m)
                    .map_or_else(|| m.join("::"), |p| p.display().to_string())
            })
            .collect();
        problems.push(format!(
            "{name}: modules import each other in a circle: {}",
            shown.join(" -> ")
        ));
    }
    problems
}

/// The file a named path comes from: the longest known module that prefixes it, following re-exports
/// (`crate::Config` where lib.rs says `pub use config::Config` comes from `config`).
fn defining_module(
    named: &[String],
    known: &BTreeSet<Vec<String>>,
    reexports: &BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>,
) -> Option<Vec<String>> {
    let mut path = named.to_vec();
    for _ in 0..8 {
        let target = (0..=path.len())
            .rev()
            .map(|n| &path[..n])
            .find(|p| known.contains(*p))?
            .to_vec();
        let Some(via) = path
            .get(target.len())
            .and_then(|item| reexports.get(&target)?.get(item))
        else {
            return Some(target);
        };
        if via.starts_with(&target) && via.len() == target.len() + 1 {
            return Some(target); // an item defined here and re-exported under its own name
        }
        path = via
            .iter()
            .chain(&path[target.len() + 1..])
            .cloned()
            .collect();
    }
    None
}

/// The strongly connected components with more than one module (Tarjan's algorithm), each sorted.
fn cycles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    struct State<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<Vec<String>, usize>,
        low: BTreeMap<Vec<String>, usize>,
        stack: Vec<Vec<String>>,
        on_stack: BTreeSet<Vec<String>>,
        out: Vec<Vec<Vec<String>>>,
    }
    fn connect(s: &mut State<'_>, v: &Vec<String>) {
        let i = s.index.len();
        s.index.insert(v.clone(), i);
        s.low.insert(v.clone(), i);
        s.stack.push(v.clone());
        s.on_stack.insert(v.clone());
        for w in s.edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                connect(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(&w);
                let done = &w == v;
                component.push(w);
                if done {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            connect(&mut s, v);
        }
    }
    s.out
}

/// Crates that depend on a crate at or above their own floor.
fn layering_problems(members: &[Member]) -> Vec<String> {
    let floor = |n: &str| CRATE_ORDER.iter().position(|c| *c == n);
    let mut problems = Vec::new();
    for m in members {
        let Some(mine) = floor(&m.name) else {
            problems.push(format!(
                "{}: not in the crate order of tests/house.rs: place it",
                m.name
            ));
            continue;
        };
        for d in &m.deps {
            match floor(d) {
                Some(theirs) if theirs < mine => {}
                Some(_) => problems.push(format!(
                    "{} depends on {d}, which stands at or above it",
                    m.name
                )),
                None => problems.push(format!(
                    "{} depends on {d}, which is not in the crate order",
                    m.name
                )),
            }
        }
    }
    problems
}

#[test]
fn the_house_keeps_its_rules() {
    let members = members();
    let mut problems = layering_problems(&members);
    for m in &members {
        let src = m.dir.join("src");
        let files: Vec<(PathBuf, String)> = rust_files(&src)
            .into_iter()
            .map(|p| {
                (
                    p.strip_prefix(&src).expect("under src").to_path_buf(),
                    read(&p),
                )
            })
            .collect();
        assert!(
            !files.is_empty(),
            "{}: no sources under {}",
            m.name,
            src.display()
        );
        problems.extend(crate_problems(&m.name, &files));
    }
    assert!(
        problems.is_empty(),
        "the house breaks its rules:\n{}",
        problems.join("\n")
    );
}

fn synthetic(files: &[(&str, &str)]) -> Vec<String> {
    let files: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(p, s)| (PathBuf::from(p), (*s).to_owned()))
        .collect();
    crate_problems("synthetic", &files)
}

#[test]
fn a_circle_through_use_is_found() {
    let problems = synthetic(&[
        ("lib.rs", "pub mod a; pub mod b;"),
        ("a.rs", "use crate::b::g; pub fn f() { g() }"),
        ("b.rs", "pub fn g() { crate::a::f() }"),
    ]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("circle: a.rs -> b.rs"), "{problems:?}");
}

#[test]
fn a_circle_between_siblings_through_super_is_found() {
    let problems = synthetic(&[
        ("lib.rs", "pub mod plan;"),
        ("plan/mod.rs", "mod x; mod y;"),
        ("plan/x.rs", "use super::y::Y; pub struct X;"),
        ("plan/y.rs", "pub struct Y(super::x::X);"),
    ]);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("plan/x.rs -> plan/y.rs")),
        "{problems:?}"
    );
}

#[test]
fn a_parent_that_calls_into_a_child_that_uses_the_parent_is_a_circle() {
    let problems = synthetic(&[
        ("lib.rs", "pub mod plan;"),
        (
            "plan/mod.rs",
            "mod flavor; pub struct Step; pub fn build() { flavor::steps() }",
        ),
        ("plan/flavor.rs", "use super::Step; pub fn steps() {}"),
    ]);
    assert!(
        problems.iter().any(|p| p.contains("circle")),
        "{problems:?}"
    );
}

#[test]
fn names_reexported_by_a_facade_come_from_their_own_file() {
    let problems = synthetic(&[
        (
            "lib.rs",
            "pub mod config; pub mod facts; pub use config::Config; pub use facts::local;",
        ),
        ("config.rs", "pub struct Config;"),
        ("facts.rs", "use crate::Config; pub fn local(_: &Config) {}"),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
    let problems = synthetic(&[
        (
            "lib.rs",
            "pub mod facts; pub use facts::local; pub struct Defined;",
        ),
        (
            "facts.rs",
            "use crate::Defined; pub fn local(_: &Defined) {}",
        ),
    ]);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("circle: lib.rs -> facts.rs")),
        "{problems:?}"
    );
}

#[test]
fn one_way_imports_and_facades_pass() {
    let problems = synthetic(&[
        (
            "lib.rs",
            "pub mod plan; pub mod flavor; pub use plan::Step;",
        ),
        ("plan/mod.rs", "mod order; pub use self::order::Step;"),
        ("plan/order.rs", "pub struct Step;"),
        (
            "flavor.rs",
            "use crate::plan::Step; pub fn steps() -> Vec<Step> { vec![] }",
        ),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn long_functions_and_files_are_found_but_tests_are_not_counted() {
    let body = "    let _x = 1;\n".repeat(MAX_FN_LINES);
    let long = format!("pub fn long() {{\n{body}}}\n");
    let test = format!("#[cfg(test)]\nmod tests {{\n    fn also_long() {{\n{body}}}\n}}\n");
    let problems = synthetic(&[("lib.rs", &format!("{long}{test}"))]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("fn long has 102 lines"),
        "{problems:?}"
    );

    let file = "pub fn f() {}\n".repeat(MAX_FILE_LINES + 1);
    let problems = synthetic(&[("lib.rs", &file)]);
    assert!(
        problems.iter().any(|p| p.contains("801 production lines")),
        "{problems:?}"
    );
}

#[test]
fn a_lower_crate_depending_on_a_higher_one_is_found() {
    let members = [
        Member {
            name: "stackbox-common".into(),
            dir: PathBuf::new(),
            deps: vec!["stackbox-installer".into()],
        },
        Member {
            name: "stackbox-installer".into(),
            dir: PathBuf::new(),
            deps: vec!["stackbox-common".into()],
        },
        Member {
            name: "stackbox-unknown".into(),
            dir: PathBuf::new(),
            deps: vec![],
        },
    ];
    let problems = layering_problems(&members);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("stackbox-common depends on stackbox-installer"));
    assert!(problems[1].contains("not in the crate order"));
}
