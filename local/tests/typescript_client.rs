//! Storefront teams on TypeScript get types from `infra/openapi.yaml`
//! (issue 17): openapi-typescript generates `schema.d.ts` without a word on
//! stderr, and a storefront's code written against it (the README's
//! commands: a claim submitted with `fetch`, its answer read, a webhook
//! endpoint registered) compiles under `tsc --strict`; code that sends the
//! wrong shape does not, so the types are really checked. The webhook
//! verifier in TypeScript (npm `standardwebhooks`) is run against the
//! runner's deliveries in `webhooks_out.rs`; here it compiles.
//!
//! The tools are pinned and found as `common::typescript` says (installed
//! by `.ci/run`); without them the tests fail and say how to install them.

mod common;

use common::typescript::{self, show, tools, tsc};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn workspace_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// The storefront's code: what the README shows, typed by the generated
/// `paths` and `operations`.
const STOREFRONT: &str = r#"import type { components, operations, paths } from "./schema.js";

type SubmitClaim =
  paths["/v1/claims"]["post"]["requestBody"]["content"]["application/json"];
type Claim =
  paths["/v1/claims"]["post"]["responses"][201]["content"]["application/json"];
type ApiError = components["schemas"]["Error"];
type NewEndpoint =
  operations["createWebhookEndpoint"]["requestBody"]["content"]["application/json"];
type EndpointCreated =
  operations["createWebhookEndpoint"]["responses"][201]["content"]["application/json"];

export async function submitClaim(base: string, token: string, body: SubmitClaim): Promise<Claim> {
  const answer = await fetch(`${base}/v1/claims`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (answer.status !== 201 && answer.status !== 200) {
    const e = (await answer.json()) as ApiError;
    throw new Error(`${e.error.code}: ${e.error.message}`);
  }
  return (await answer.json()) as Claim;
}

export const firstClaim: SubmitClaim = {
  shop_id: "shop-1",
  order_id: "o-1001",
  type: "refund_only",
  reason: "no_longer_wanted",
  lines: [{ line_id: "L1", quantity: 1 }],
};

export function summary(c: Claim): string {
  const approved = c.approved_amount === null ? "-" : c.approved_amount.amount;
  return `${c.claim_id} ${c.status} asked ${c.requested_amount.amount} ${c.requested_amount.currency}, approved ${approved}`;
}

export const erp: NewEndpoint = {
  url: "https://erp.example.com/hooks",
  event_types: ["claim.submitted", "refund.sent"],
};

export function keepSecret(e: EndpointCreated): string {
  return e.secret;
}
"#;

struct Generated {
    dir: PathBuf,
    stderr: String,
}

/// Generates `schema.d.ts` once for the tests of this file.
fn generated() -> &'static Generated {
    static G: OnceLock<Generated> = OnceLock::new();
    G.get_or_init(|| {
        let tools = tools();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("typescript_client");
        let _ = std::fs::remove_dir_all(&dir);
        typescript::project(&tools, &dir);
        let doc = workspace_file("infra/openapi.yaml");
        let out = typescript::run_bin(
            &tools,
            "openapi-typescript",
            "cli.js",
            &dir,
            &[
                doc.to_str().expect("a UTF-8 path"),
                "--default-non-nullable",
                "false",
                "-o",
                "schema.d.ts",
            ],
        );
        assert!(out.status.success(), "openapi-typescript: {}", show(&out));
        Generated {
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            dir,
        }
    })
}

#[test]
fn openapi_typescript_generates_without_warnings() {
    let g = generated();
    assert_eq!(g.stderr, "", "openapi-typescript warned");
    let schema = std::fs::read_to_string(g.dir.join("schema.d.ts")).unwrap();
    // Every operation is there by its operationId.
    let doc = include_str!("../../infra/openapi.yaml");
    let ids: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.trim().strip_prefix("operationId: "))
        .collect();
    assert!(ids.len() > 40, "operationIds: {ids:?}");
    for id in ids {
        assert!(
            schema.contains(&format!("    {id}: {{")),
            "schema.d.ts has no operation {id}"
        );
    }
}

#[test]
fn a_storefronts_code_compiles_under_tsc_strict() {
    let g = generated();
    let tools = tools();
    std::fs::write(g.dir.join("storefront.ts"), STOREFRONT).unwrap();
    let out = tsc(&tools, &g.dir, &["--noEmit", "storefront.ts"]);
    assert!(out.status.success(), "tsc --strict: {}", show(&out));
}

#[test]
fn the_wrong_shapes_do_not_compile() {
    let g = generated();
    let tools = tools();
    let cases = [
        (
            "quantity_text.ts",
            STOREFRONT.replace("quantity: 1 }", "quantity: \"one\" }"),
            "not assignable to type 'number'",
        ),
        (
            "unknown_reason.ts",
            STOREFRONT.replace("reason: \"no_longer_wanted\"", "reason: \"bored\""),
            "bored",
        ),
        (
            "no_lines.ts",
            STOREFRONT.replace("  lines: [{ line_id: \"L1\", quantity: 1 }],\n", ""),
            "lines",
        ),
        (
            "unknown_event.ts",
            STOREFRONT.replace("\"refund.sent\"", "\"refund.teleported\""),
            "refund.teleported",
        ),
        (
            "no_such_field.ts",
            STOREFRONT.replace("c.claim_id", "c.claim_number"),
            "claim_number",
        ),
    ];
    // One tsc run for all of them (each file is a module of its own): its
    // errors name the file they are in.
    let mut args = vec!["--noEmit"];
    for (name, wrong, _) in &cases {
        assert_ne!(wrong, STOREFRONT, "{name}: the replacement changed nothing");
        std::fs::write(g.dir.join(name), wrong).unwrap();
        args.push(name);
    }
    let out = tsc(&tools, &g.dir, &args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "the wrong shapes compiled: {}",
        show(&out)
    );
    for (name, _, says) in &cases {
        let errors: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(&format!("{name}(")))
            .collect();
        assert!(
            errors.iter().any(|l| l.contains(says)),
            "{name}: no error saying {says:?}: {}",
            show(&out)
        );
    }
}

#[test]
fn the_webhook_verifier_compiles_under_tsc_strict() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("typescript_verifier_compiles");
    let _ = std::fs::remove_dir_all(&dir);
    typescript::Verifier::compile(&dir);
}

#[test]
fn ci_installs_these_versions() {
    let ci = std::fs::read_to_string(workspace_file(".ci/run")).expect(".ci/run");
    for line in [
        format!(
            "OPENAPI_TYPESCRIPT_VERSION={}",
            typescript::OPENAPI_TYPESCRIPT_VERSION
        ),
        format!("TYPESCRIPT_VERSION={}", typescript::TYPESCRIPT_VERSION),
        format!("TYPES_NODE_VERSION={}", typescript::TYPES_NODE_VERSION),
        format!(
            "STANDARDWEBHOOKS_NPM_VERSION={}",
            typescript::STANDARDWEBHOOKS_NPM_VERSION
        ),
    ] {
        assert!(ci.contains(&line), ".ci/run has no {line}");
    }
}

#[test]
fn the_readme_shows_the_generator_and_the_verifier() {
    let readme = std::fs::read_to_string(workspace_file("README.md")).expect("README.md");
    let generate = "npx openapi-typescript infra/openapi.yaml --default-non-nullable false";
    assert!(readme.contains(generate), "README has no {generate:?}");
    // The README's verifier makes the same calls as the one run against the
    // runner's deliveries.
    for call in ["new Webhook(", "wh.verify(", "WebhookVerificationError"] {
        assert!(typescript::VERIFIER.contains(call), "{call}");
    }
    assert!(
        readme.contains("const wh = new Webhook(secret);")
            && readme.contains("wh.verify(body, headers);"),
        "README has no TypeScript verifier"
    );
}
