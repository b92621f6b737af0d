//! The SAM template passes the offline check (`infra/check_template.py`: SAM
//! expansion + cfn-lint), and the check really catches mistakes: broken copies
//! of the template must fail it.
//!
//! Needs `python3` with `aws-sam-translator` and `cfn-lint` (`.ci/run` installs
//! them). When they are missing these tests fail with instructions; they never
//! skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The checker's exit code for "the template has problems" (2 = could not run).
const TEMPLATE_PROBLEM: i32 = 1;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent directory")
        .to_path_buf()
}

fn template_path() -> PathBuf {
    workspace_root().join("infra").join("template.yaml")
}

fn read_template() -> String {
    let path = template_path();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Runs `python3 infra/check_template.py <template> [extra args]` from the
/// workspace root. Panics with instructions when the checker cannot run at all
/// (no python3, or the Python tools are missing): that is never a pass.
fn run_checker(template: &Path, extra_args: &[&str]) -> Output {
    let root = workspace_root();
    let output = Command::new("python3")
        .arg(root.join("infra").join("check_template.py"))
        .arg(template)
        .args(extra_args)
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start python3 ({e}). The template check needs Python 3.11+ with \
                 cfn-lint and aws-sam-translator: `python3 -m pip install cfn-lint \
                 aws-sam-translator`, or run .ci/run"
            )
        });
    let code = output.status.code();
    assert!(
        code == Some(0) || code == Some(TEMPLATE_PROBLEM),
        "infra/check_template.py could not run (exit {code:?}); install its tools with \
         `python3 -m pip install cfn-lint aws-sam-translator` (or run .ci/run).\n{}",
        describe(&output)
    );
    output
}

fn describe(output: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn template_passes_sam_expansion_and_cfn_lint() {
    let output = run_checker(&template_path(), &[]);
    assert!(
        output.status.success(),
        "infra/template.yaml fails the offline check:\n{}",
        describe(&output)
    );
}

/// Writes the template with `from` replaced by `to` (first occurrence; `from`
/// must exist, so a template edit cannot silently turn this into a test of the
/// unmodified template), runs the checker on the copy and asserts it fails
/// with `expected` somewhere in its report.
fn assert_broken_variant_fails(from: &str, to: &str, expected: &str) {
    let original = read_template();
    assert!(
        original.contains(from),
        "test setup: infra/template.yaml no longer contains {from:?}; update this test"
    );
    let broken = original.replacen(from, to, 1);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("template.yaml");
    std::fs::write(&path, broken).expect("write broken template");

    // The copy lives elsewhere: resolve its relative CodeUri as if it were in infra/.
    let base_dir = workspace_root().join("infra");
    let output = run_checker(
        &path,
        &["--base-dir", base_dir.to_str().expect("utf-8 path")],
    );
    let report = describe(&output);
    assert_eq!(
        output.status.code(),
        Some(TEMPLATE_PROBLEM),
        "the checker accepted a template with {from:?} replaced by {to:?}:\n{report}"
    );
    assert!(
        report.contains(expected),
        "the checker failed, but its report does not mention {expected:?}:\n{report}"
    );
}

#[test]
fn checker_rejects_bad_getatt_in_globals() {
    // A bad reference in Globals: plain cfn-lint used to let these through.
    assert_broken_variant_fails(
        "        TABLE_NAME: !Ref AftersalesTable",
        "        TABLE_NAME: !GetAtt AftersalesTabel.Arn",
        "AftersalesTabel",
    );
}

#[test]
fn checker_rejects_event_with_unknown_api() {
    assert_broken_variant_fails(
        "            ApiId: !Ref HttpApi\n            Method: POST\n            Path: /v1/claims\n",
        "            ApiId: !Ref ClaimsHttpApi\n            Method: POST\n            Path: /v1/claims\n",
        "CreateClaim",
    );
}

#[test]
fn checker_rejects_misspelled_event_property() {
    assert_broken_variant_fails(
        "            Method: PUT\n",
        "            Methd: PUT\n",
        "PutOrder",
    );
}

#[test]
fn checker_rejects_bad_runtime() {
    assert_broken_variant_fails(
        "    Runtime: provided.al2023\n",
        "    Runtime: provided.al2024\n",
        "provided.al2024",
    );
}

#[test]
fn checker_rejects_unknown_cargo_binary() {
    // Nothing in SAM or cfn-lint checks build metadata; our checker does.
    assert_broken_variant_fails(
        "        Binary: order-intake\n",
        "        Binary: order_intake\n",
        "order_intake",
    );
}

/// The rule-evaluation function hears of exactly the claim steps after
/// which the rules run: a step missing from the stream filter would never
/// re-run the rules in the cloud, though it does on one machine.
#[test]
fn rule_evaluation_filter_lists_every_rule_trigger() {
    let template = read_template();
    let filter = template
        .lines()
        .find(|l| l.contains("Pattern:") && l.contains("claim.submitted"))
        .expect("the rule-evaluation stream filter");
    let start = filter.find("\"type\": {\"S\": [").expect("a type list") + 15;
    let end = start + filter[start..].find(']').expect("the list ends");
    let mut listed: Vec<&str> = filter[start..end]
        .split(',')
        .map(|t| t.trim().trim_matches('"'))
        .collect();
    let mut triggers: Vec<&str> = aftersales::app::review::RULE_TRIGGERS
        .iter()
        .map(|s| s.event_type())
        .collect();
    listed.sort_unstable();
    triggers.sort_unstable();
    assert_eq!(listed, triggers);
}
