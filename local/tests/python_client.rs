//! Storefront teams get a working client from `infra/openapi.yaml`
//! (issue 17): openapi-python-client, pinned to [`VERSION`], generates a
//! Python client from the document without a single warning, with a
//! module for every operationId, every module of which imports; and that
//! client walks the start of the README's tour (order intake, a refund-only
//! claim the rules approve and the sandbox refunds, the inbox, the desk
//! queue) against `aftersales-local` started on a free loopback port with
//! an empty data folder (`python_client/tour.py`).
//!
//! The generator lives in a virtualenv of its own (it must not change the
//! packages of the Python moto runs in): `$OPENAPI_PYTHON_CLIENT` (its
//! `openapi-python-client` program), else the one `.ci/run` installs at
//! `$TMPDIR/aftersales-openapi-python-client-<VERSION>` (TMPDIR defaults
//! to /tmp). Without it, or with another version, the tests fail and say
//! how to install it. The generated code runs with that virtualenv's
//! Python, which has what the client needs (httpx, attrs, dateutil), and
//! is formatted by its ruff (the generator's post-hooks).

mod common;

use common::{free_port, token, Proc};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The version of openapi-python-client the document is checked with;
/// `.ci/run` installs the same.
const VERSION: &str = "0.29.1";
const DOCUMENT: &str = include_str!("../../infra/openapi.yaml");
/// The generated package's name (`--meta none`: the output folder is the
/// package).
const PACKAGE: &str = "aftersales_client";

fn workspace_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn install_hint() -> String {
    format!(
        "run .ci/run, or: python3 -m venv VENV && VENV/bin/pip install \
         openapi-python-client=={VERSION} and set OPENAPI_PYTHON_CLIENT=VENV/bin/openapi-python-client \
         (never into the Python moto uses)"
    )
}

/// The generator program and the virtualenv's `bin` folder it is in.
fn generator() -> (PathBuf, PathBuf) {
    let program = match std::env::var_os("OPENAPI_PYTHON_CLIENT") {
        Some(p) => PathBuf::from(p),
        None => {
            let tmp = std::env::var_os("TMPDIR")
                .filter(|t| !t.is_empty())
                .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
            tmp.join(format!("aftersales-openapi-python-client-{VERSION}"))
                .join("bin")
                .join("openapi-python-client")
        }
    };
    let version = Command::new(&program).arg("--version").output();
    let printed = match &version {
        Ok(o) => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Err(e) => panic!(
            "openapi-python-client is not installed ({}: {e}); {}",
            program.display(),
            install_hint()
        ),
    };
    assert_eq!(
        printed,
        format!("openapi-python-client version: {VERSION}"),
        "{} is not openapi-python-client {VERSION}; {}",
        program.display(),
        install_hint()
    );
    let bin = program
        .parent()
        .expect("the program is in a folder")
        .to_path_buf();
    (program, bin)
}

/// The operationIds of the document, in its order.
fn operation_ids() -> Vec<String> {
    let ids: Vec<String> = DOCUMENT
        .lines()
        .filter_map(|l| l.trim().strip_prefix("operationId:"))
        .map(|id| id.trim().trim_matches('"').to_string())
        .collect();
    assert!(ids.len() > 40, "the document's operationIds: {ids:?}");
    ids
}

/// `decideClaimsInBatch` → `decide_claims_in_batch`.
fn snake(id: &str) -> String {
    let mut out = String::new();
    for c in id.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

struct Generated {
    /// The folder holding the package (for PYTHONPATH).
    root: PathBuf,
    /// What the generator printed.
    printed: String,
    /// The virtualenv's Python.
    python: PathBuf,
}

/// Generates the client once per test run, into this package's target
/// temporary folder.
fn generated() -> &'static Generated {
    static GENERATED: OnceLock<Generated> = OnceLock::new();
    GENERATED.get_or_init(|| {
        let (program, bin) = generator();
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python_client");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("a folder for the client");
        // The post-hooks (ruff) are found on PATH: the virtualenv's first.
        let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .expect("PATH");
        let out = Command::new(&program)
            .current_dir(&root)
            .env("PATH", path)
            .args(["generate", "--meta", "none", "--fail-on-warning", "--path"])
            .arg(workspace_file("infra/openapi.yaml"))
            .arg("--output-path")
            .arg(root.join(PACKAGE))
            .output()
            .expect("openapi-python-client runs");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "openapi-python-client failed ({}):\n{printed}",
            out.status
        );
        Generated {
            root,
            printed,
            python: bin.join("python"),
        }
    })
}

fn python(g: &Generated, dir: &Path) -> Command {
    let mut c = Command::new(&g.python);
    c.current_dir(dir).env("PYTHONPATH", &g.root);
    c
}

fn show(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_python_client_generates_without_warnings() {
    let g = generated();
    let expected = format!("Generating {}", g.root.join(PACKAGE).display());
    let rest: Vec<&str> = g
        .printed
        .lines()
        .filter(|l| !l.trim().is_empty() && l.trim() != expected)
        .collect();
    assert!(
        rest.is_empty(),
        "openapi-python-client {VERSION} printed more than it does when all is well \
         (warnings: schemas or operations it dropped):\n{}",
        g.printed
    );
}

#[test]
fn the_python_client_has_a_module_for_every_operation() {
    let g = generated();
    let api = g.root.join(PACKAGE).join("api");
    let modules: Vec<String> = std::fs::read_dir(&api)
        .expect("the client has an api folder")
        .flatten()
        .filter(|e| e.path().is_dir())
        .flat_map(|tag| {
            std::fs::read_dir(tag.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter_map(|m| {
            m.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".py"))
                .map(str::to_string)
        })
        .collect();
    let missing: Vec<String> = operation_ids()
        .into_iter()
        .filter(|id| !modules.contains(&snake(id)))
        .collect();
    assert!(
        missing.is_empty(),
        "operations the generated client has no module for: {missing:?}"
    );
}

#[test]
fn every_module_of_the_python_client_imports() {
    let g = generated();
    let out = python(g, &g.root)
        .arg(workspace_file("local/tests/python_client/import_all.py"))
        .arg(PACKAGE)
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{}", show(&out));
}

/// `.ci/run` installs the version these tests check with.
#[test]
fn ci_installs_this_version() {
    let ci = std::fs::read_to_string(workspace_file(".ci/run")).expect(".ci/run");
    assert!(
        ci.contains(&format!("OPENAPI_PYTHON_CLIENT_VERSION={VERSION}")),
        ".ci/run does not install openapi-python-client {VERSION}"
    );
}

// ------------------------------------------------------------------ the tour

#[test]
fn the_python_client_walks_the_readme_tour() {
    let g = generated();
    let dir = tempfile::tempdir().expect("a folder for the runner");
    let addr = format!("127.0.0.1:{}", free_port());
    let runner = Proc::runner(dir.path(), &addr);
    let storefront = token(dir.path(), &["storefront", "shop-1"]);
    let alice = token(dir.path(), &["customer", "alice"]);
    let staff = token(
        dir.path(),
        &["staff", "st-1", "shop-1", "reviewer", "admin"],
    );
    let out = python(g, dir.path())
        .arg(workspace_file("local/tests/python_client/tour.py"))
        .args([&format!("http://{addr}"), &storefront, &alice, &staff])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "the tour through the Python client failed:\n{}\n--- runner:\n{}",
        show(&out),
        runner.log_text()
    );
    assert!(show(&out).contains("tour ok"), "{}", show(&out));
}
