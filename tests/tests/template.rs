//! The SAM template passes the offline check (`infra/check_template.py`: SAM
//! expansion + cfn-lint + checkov), and the check really catches mistakes:
//! broken copies of the template must fail it. The template also keeps the
//! operational promises of issue 14: at most two readers on the table's
//! stream, every queue encrypted with a DLQ or an alarm on it, every
//! function alarmed on errors and throttles.
//!
//! Needs `python3` with `aws-sam-translator` and `cfn-lint`, and checkov in
//! its own virtualenv (`.ci/run` installs them all). When they are missing
//! these tests fail with instructions; they never skip.

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
fn template_passes_sam_expansion_cfn_lint_and_checkov() {
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
    assert_broken_variant_fails_with(from, to, expected, &["--no-checkov"]);
}

/// [`assert_broken_variant_fails`] with checkov too (slower: it is for the
/// tests of what only checkov finds).
fn assert_broken_variant_fails_checkov(from: &str, to: &str, expected: &str) {
    assert_broken_variant_fails_with(from, to, expected, &[]);
}

fn assert_broken_variant_fails_with(from: &str, to: &str, expected: &str, extra: &[&str]) {
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
    let mut args = vec!["--base-dir", base_dir.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    let output = run_checker(&path, &args);
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

#[test]
fn checker_rejects_a_failed_checkov_check() {
    // The alarm topic without its KMS key: checkov's CKV_AWS_26 fails, and
    // so must the check.
    assert_broken_variant_fails_checkov("      KmsMasterKeyId: !Ref OpsKey\n", "", "CKV_AWS_26");
}

#[test]
fn checker_rejects_a_checkov_skip_without_its_reason() {
    assert_broken_variant_fails(
        "            comment: No VPC - ",
        "            comment: \"\"\n            note: No VPC - ",
        "does not say why",
    );
}

fn template_yaml() -> serde_yaml::Value {
    serde_yaml::from_str(&read_template()).expect("infra/template.yaml is YAML")
}

fn resources(t: &serde_yaml::Value) -> &serde_yaml::Mapping {
    t["Resources"].as_mapping().expect("Resources")
}

fn mentions(v: &serde_yaml::Value, what: &str) -> bool {
    serde_yaml::to_string(v).unwrap_or_default().contains(what)
}

/// AWS advises at most two readers per DynamoDB stream: the refund pipe and
/// the events pipe. Every other consumer reads its queue off the bus.
#[test]
fn the_table_stream_has_at_most_two_readers() {
    let t = template_yaml();
    let mut readers = vec![];
    for (name, r) in resources(&t) {
        let name = name.as_str().unwrap_or_default();
        match r["Type"].as_str() {
            Some("AWS::Pipes::Pipe") if mentions(&r["Properties"]["Source"], "StreamArn") => {
                readers.push(name.to_owned())
            }
            Some("AWS::Serverless::Function") => {
                for (ev, e) in r["Properties"]["Events"].as_mapping().into_iter().flatten() {
                    if matches!(e["Type"].as_str(), Some("DynamoDB" | "Kinesis")) {
                        readers.push(format!("{name}.{}", ev.as_str().unwrap_or_default()));
                    }
                }
            }
            Some("AWS::Lambda::EventSourceMapping") if mentions(r, "StreamArn") => {
                readers.push(name.to_owned())
            }
            _ => {}
        }
    }
    readers.sort();
    assert_eq!(readers, ["EventsPipe", "RefundPipe"]);
}

/// Every queue is encrypted; a queue that feeds something has a DLQ and an
/// alarm on the age of its oldest message; a DLQ (a queue without a DLQ of
/// its own) has an alarm on its depth. Every function has an alarm on its
/// errors and one on its throttles. All of them notify the alarm topic.
#[test]
fn every_async_edge_is_encrypted_dead_lettered_and_alarmed() {
    let t = template_yaml();
    let res = resources(&t);
    let has = |name: &str| res.contains_key(serde_yaml::Value::from(name));
    let mut missing = vec![];
    for (name, r) in res {
        let name = name.as_str().unwrap_or_default();
        let props = &r["Properties"];
        match r["Type"].as_str() {
            Some("AWS::SQS::Queue") => {
                if props["SqsManagedSseEnabled"].as_bool() != Some(true)
                    && props["KmsMasterKeyId"].is_null()
                {
                    missing.push(format!("{name}: encryption"));
                }
                let alarm = if props["RedrivePolicy"].is_null() {
                    format!("{name}DepthAlarm")
                } else {
                    format!("{name}AgeAlarm")
                };
                if !has(&alarm) {
                    missing.push(alarm);
                }
            }
            Some("AWS::Serverless::Function") => {
                let base = name.trim_end_matches("Function");
                for alarm in [
                    format!("{base}ErrorsAlarm"),
                    format!("{base}ThrottlesAlarm"),
                ] {
                    if !has(&alarm) {
                        missing.push(alarm);
                    }
                }
            }
            Some("AWS::Pipes::Pipe")
                if !mentions(&props["SourceParameters"], "DeadLetterConfig") =>
            {
                missing.push(format!("{name}: DeadLetterConfig"));
            }
            Some("AWS::Events::Rule") => {
                for target in props["Targets"].as_sequence().into_iter().flatten() {
                    if target["DeadLetterConfig"].is_null() {
                        missing.push(format!("{name}: a target without DeadLetterConfig"));
                    }
                }
            }
            Some("AWS::CloudWatch::Alarm") if !mentions(&props["AlarmActions"], "AlarmTopic") => {
                missing.push(format!("{name}: AlarmActions"));
            }
            _ => {}
        }
    }
    assert!(missing.is_empty(), "missing: {missing:#?}");
}

/// The template names its actions: no SAM CRUD policy template, no
/// wildcard action or resource in a function's own statements.
#[test]
fn policies_name_their_actions_and_resources() {
    let text = read_template();
    for forbidden in [
        "DynamoDBCrudPolicy",
        "DynamoDBWritePolicy",
        "SQSSendMessagePolicy",
        "SNSPublishMessagePolicy",
        "Action: \"*\"",
        "Action: \"dynamodb:*\"",
        "Action: \"sns:*\"",
        "Action: \"sqs:*\"",
    ] {
        assert!(
            !text.contains(forbidden),
            "infra/template.yaml uses {forbidden}"
        );
    }
}

/// Partner keys never sit in a function's environment: a function's
/// variables name its secrets (`*_SECRET_ID`, read at run time by
/// `aftersales::lambda_secrets`), and exactly the functions naming a secret
/// may read it, and no other secret.
#[test]
fn partner_secrets_are_read_at_run_time_by_exactly_their_functions() {
    let text = read_template();
    assert!(
        !text.contains("resolve:secretsmanager"),
        "a secret resolved into the template (and so into an environment)"
    );
    let t = template_yaml();
    let mut readers = Vec::new();
    for (name, r) in resources(&t) {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap_or_default();
        let props = &r["Properties"];
        let mut named: Vec<String> = Vec::new();
        if let Some(vars) = props["Environment"]["Variables"].as_mapping() {
            for (var, value) in vars {
                let var = var.as_str().unwrap_or_default();
                assert!(
                    !var.ends_with("_CONFIG"),
                    "{name}: {var} would hold a partner's configuration"
                );
                if var.ends_with("_SECRET_ID") {
                    let tagged = serde_yaml::to_string(value).unwrap_or_default();
                    let param = tagged
                        .trim()
                        .strip_prefix("!Ref ")
                        .unwrap_or_else(|| panic!("{name}: {var} is not a !Ref: {tagged}"));
                    named.push(param.to_owned());
                }
            }
        }
        let policies = serde_yaml::to_string(&props["Policies"]).unwrap_or_default();
        let mut readable: Vec<String> = policies
            .split(":secret:${")
            .skip(1)
            .map(|rest| rest.split('}').next().unwrap_or_default().to_owned())
            .collect();
        named.sort();
        readable.sort();
        assert_eq!(
            named, readable,
            "{name}: the secrets its variables name and those it may read differ"
        );
        assert_eq!(
            policies.contains("secretsmanager:"),
            !named.is_empty(),
            "{name}: Secrets Manager access without secrets to read (or the reverse)"
        );
        if !named.is_empty() {
            readers.push(name.to_owned());
        }
    }
    readers.sort();
    assert_eq!(
        readers,
        [
            "CourierVerificationFunction",
            "PaymentWebhooksFunction",
            "RefundExecutorFunction",
            "RuleEvaluationFunction"
        ]
    );
}

/// The rule-evaluation function hears of exactly the claim steps after
/// which the rules run: a step missing from its bus rule would never re-run
/// the rules in the cloud, though it does on one machine.
#[test]
fn rule_evaluation_filter_lists_every_rule_trigger() {
    let t = template_yaml();
    let rule = &resources(&t)["RuleEvaluationBusRule"];
    assert_eq!(rule["Type"].as_str(), Some("AWS::Events::Rule"));
    assert!(mentions(
        &rule["Properties"]["Targets"],
        "RuleEvaluationQueue"
    ));
    let filter = rule["Properties"]["EventPattern"]
        .as_str()
        .expect("the rule-evaluation bus rule's pattern, as one JSON string");
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
