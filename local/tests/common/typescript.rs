//! The TypeScript side of the storefront tests: openapi-typescript, tsc,
//! @types/node and the npm `standardwebhooks`, pinned to the versions
//! below, in a folder of their own: `$AFTERSALES_TYPESCRIPT_TOOLS`, else the
//! one `.ci/run` installs at
//! `$TMPDIR/aftersales-typescript-<versions>` (TMPDIR defaults to /tmp).
//! Without node or the packages the tests fail and say how to install them.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The versions `.ci/run` installs (its `*_VERSION=` lines say the same).
pub const OPENAPI_TYPESCRIPT_VERSION: &str = "7.9.1";
pub const TYPESCRIPT_VERSION: &str = "5.9.3";
pub const TYPES_NODE_VERSION: &str = "20.19.43";
pub const STANDARDWEBHOOKS_NPM_VERSION: &str = "1.3.0";

fn install_hint(dir: &Path) -> String {
    format!(
        "run .ci/run, or: npm install --no-audit --no-fund --prefix {} \
         openapi-typescript@{OPENAPI_TYPESCRIPT_VERSION} typescript@{TYPESCRIPT_VERSION} \
         @types/node@{TYPES_NODE_VERSION} standardwebhooks@{STANDARDWEBHOOKS_NPM_VERSION} \
         (or set AFTERSALES_TYPESCRIPT_TOOLS to a folder with them)",
        dir.display()
    )
}

/// The folder whose `node_modules` has the pinned packages; fails the test
/// when node is missing or a package is not at its version.
pub fn tools() -> PathBuf {
    let dir = match std::env::var_os("AFTERSALES_TYPESCRIPT_TOOLS") {
        Some(d) => PathBuf::from(d),
        None => std::env::var_os("TMPDIR")
            .filter(|t| !t.is_empty())
            .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
            .join(format!(
                "aftersales-typescript-{OPENAPI_TYPESCRIPT_VERSION}-{TYPESCRIPT_VERSION}-\
                 {TYPES_NODE_VERSION}-{STANDARDWEBHOOKS_NPM_VERSION}"
            )),
    };
    if let Err(e) = Command::new("node").arg("--version").output() {
        panic!("node does not run ({e}); {}", install_hint(&dir));
    }
    for (package, version) in [
        ("openapi-typescript", OPENAPI_TYPESCRIPT_VERSION),
        ("typescript", TYPESCRIPT_VERSION),
        ("@types/node", TYPES_NODE_VERSION),
        ("standardwebhooks", STANDARDWEBHOOKS_NPM_VERSION),
    ] {
        let manifest = dir.join("node_modules").join(package).join("package.json");
        let found = std::fs::read_to_string(&manifest)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["version"].as_str().map(str::to_owned));
        assert_eq!(
            found.as_deref(),
            Some(version),
            "{package} {version} is not installed at {}; {}",
            manifest.display(),
            install_hint(&dir)
        );
    }
    dir
}

/// A folder for TypeScript sources that resolves the pinned packages (its
/// `node_modules` is the tools' own).
pub fn project(tools: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).expect("a project folder");
    let link = dir.join("node_modules");
    if !link.exists() {
        std::os::unix::fs::symlink(tools.join("node_modules"), &link).expect("node_modules");
    }
}

/// Runs a package's program (`node node_modules/<package>/bin/<bin>`) in `dir`.
pub fn run_bin(tools: &Path, package: &str, bin: &str, dir: &Path, args: &[&str]) -> Output {
    Command::new("node")
        .arg(
            tools
                .join("node_modules")
                .join(package)
                .join("bin")
                .join(bin),
        )
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{package} runs: {e}"))
}

/// `tsc` with the checks a storefront team would turn on.
pub fn tsc(tools: &Path, dir: &Path, args: &[&str]) -> Output {
    let mut all = vec![
        "--strict",
        "--target",
        "es2022",
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--types",
        "node",
    ];
    all.extend_from_slice(args);
    run_bin(tools, "typescript", "tsc", dir, &all)
}

pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The README's TypeScript verifier: the request's headers and raw body
/// through `Webhook.verify` of the npm `standardwebhooks`.
pub const VERIFIER: &str = r#"import { readFileSync } from "node:fs";
import { Webhook, WebhookVerificationError } from "standardwebhooks";

interface Request {
  secret: string;
  headers: Record<string, string>;
  body: string;
}

const r: Request = JSON.parse(readFileSync(process.argv[2], "utf8"));
const wh = new Webhook(r.secret);
const payload = wh.verify(r.body, r.headers);
try {
  wh.verify(r.body + " ", r.headers);
  console.error("a changed body verified");
  process.exit(2);
} catch (e) {
  if (!(e instanceof WebhookVerificationError)) throw e;
}
console.log(JSON.stringify(payload));
"#;

/// A compiled verifier, ready to run with node.
pub struct Verifier {
    dir: PathBuf,
}

impl Verifier {
    /// Writes [`VERIFIER`] into `dir` and compiles it with `tsc --strict`.
    pub fn compile(dir: &Path) -> Verifier {
        let tools = tools();
        project(&tools, dir);
        std::fs::write(dir.join("verify.mts"), VERIFIER).unwrap();
        let out = tsc(&tools, dir, &["verify.mts"]);
        assert!(out.status.success(), "tsc verify.mts: {}", show(&out));
        assert!(dir.join("verify.mjs").exists(), "tsc wrote no verify.mjs");
        Verifier {
            dir: dir.to_path_buf(),
        }
    }

    /// Verifies a request with the npm library (and checks that it
    /// refuses the body with one byte more); the payload it verified.
    pub fn verify(&self, secret: &str, headers: &[(&str, &str)], body: &str) -> Value {
        let input = self.dir.join("request.json");
        let headers: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        std::fs::write(
            &input,
            json!({"secret": secret, "headers": headers, "body": body}).to_string(),
        )
        .unwrap();
        let out = Command::new("node")
            .arg("verify.mjs")
            .arg(&input)
            .current_dir(&self.dir)
            .output()
            .expect("node runs");
        assert!(
            out.status.success(),
            "the npm standardwebhooks refused the request: {}",
            show(&out)
        );
        serde_json::from_slice(&out.stdout).expect("the verified payload")
    }
}
