#!/usr/bin/env python3
"""Offline check of the SAM template: SAM expansion + cfn-lint, no AWS account needed.

Usage: python3 infra/check_template.py [infra/template.yaml] [--base-dir DIR]

Why not just cfn-lint: cfn-lint no longer expands SAM resources, so mistakes inside
AWS::Serverless::* resources (bad !Ref/!GetAtt in events or Globals, a bad runtime,
misspelled event properties) pass silently. This script:

  1. parses the template with samtranslator's YAML loader (understands !Ref, !Sub, ...);
  2. checks the build metadata nothing else checks: every function is built with
     `BuildMethod: rust-cargolambda`, its CodeUri is a Cargo project directory and
     `BuildProperties: Binary` names a binary of that workspace;
  3. replaces local CodeUri values with an s3:// placeholder and expands the template
     with samtranslator (empty managed-policy map, AWS_DEFAULT_REGION=us-east-1);
     any translator error fails the check;
  4. runs cfn-lint on the raw template and on the expanded CloudFormation JSON;
     any cfn-lint *error* fails the check (warnings are printed, not fatal);
  5. runs checkov (`--framework cloudformation`) on the expanded CloudFormation:
     any failed check fails it. A check that does not apply is suppressed on its
     resource in the template (`Metadata: checkov: skip: [{id, comment}]`; SAM
     carries a function's Metadata to the generated AWS::Lambda::Function), and
     every such skip must say why (a skip without a comment fails the check).
     checkov lives in its own virtualenv (it pins botocore/boto3 versions that
     break moto): $CHECKOV, else `checkov` on PATH, else the one `.ci/run`
     installs at the path `--checkov-venv` prints. `--no-checkov` leaves it out.

Parameters are expanded with their defaults as CloudFormation hands them to the
SAM transform: a CommaDelimitedList as a list.

Exit codes: 0 = template OK, 1 = the template has problems (reasons printed),
2 = the checker could not run (missing tools, unreadable file, bad usage).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

EXIT_OK = 0
EXIT_TEMPLATE_PROBLEM = 1
EXIT_CANNOT_RUN = 2

# Regions cfn-lint validates against: the translator's region and the deploy
# region in samconfig.toml (resource/feature availability differs per region).
LINT_REGIONS = ["us-east-1", "ap-southeast-1"]

RUST_BUILD_METHOD = "rust-cargolambda"

INSTALL_HINT = "install them with: python3 -m pip install cfn-lint aws-sam-translator (or run .ci/run)"

# checkov, in a virtualenv of its own (.ci/run creates it where this says).
CHECKOV_VERSION = "3.3.30"
CHECKOV_INSTALL_HINT = (
    f"run .ci/run, or: python3 -m venv VENV && VENV/bin/pip install checkov=={CHECKOV_VERSION}"
    " and set CHECKOV=VENV/bin/checkov (never into the Python moto uses)"
)


def checkov_venv() -> Path:
    base = os.environ.get("TMPDIR") or "/tmp"
    return Path(base) / f"aftersales-checkov-{CHECKOV_VERSION}"


def cannot_run(message: str) -> NoReturn:
    print(f"check_template: cannot run: {message}", file=sys.stderr)
    sys.exit(EXIT_CANNOT_RUN)


# Set before samtranslator is imported: it resolves AWS::Region (and the ARN
# partition) from the boto session region when expanding.
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.setdefault("AWS_REGION", "us-east-1")

try:
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse
except ImportError as exc:  # pragma: no cover - environment problem
    cannot_run(f"aws-sam-translator is not importable ({exc}); {INSTALL_HINT}")

try:
    import cfnlint.runner  # noqa: F401  (only checks that cfn-lint is installed)
except ImportError as exc:  # pragma: no cover - environment problem
    cannot_run(f"cfn-lint is not importable ({exc}); {INSTALL_HINT}")

try:
    import tomllib
except ImportError:  # pragma: no cover - Python < 3.11
    tomllib = None  # type: ignore[assignment]


class EmptyManagedPolicyLoader:
    """Managed-policy name -> ARN map; empty, so no IAM call is ever made.

    Policies given by managed-policy *name* then fail to expand (use SAM policy
    templates or ARNs instead), which is what we want offline."""

    def load(self) -> dict:
        return {}


# --------------------------------------------------------------------------- helpers


def is_local_path(value: object) -> bool:
    return isinstance(value, str) and not value.startswith("s3://")


def functions(template: dict) -> dict[str, dict]:
    resources = template.get("Resources") or {}
    return {
        name: res
        for name, res in resources.items()
        if isinstance(res, dict) and res.get("Type") == "AWS::Serverless::Function"
    }


def global_function_props(template: dict) -> dict:
    globals_ = template.get("Globals") or {}
    return (globals_.get("Function") or {}) if isinstance(globals_, dict) else {}


# ------------------------------------------------------------- build metadata checks


def cargo_binaries(project_dir: Path) -> tuple[set[str], list[str]]:
    """Binary names cargo can build from `project_dir` (a package or a workspace root)."""
    problems: list[str] = []
    manifest = project_dir / "Cargo.toml"
    if tomllib is None:
        return set(), problems
    try:
        root = tomllib.loads(manifest.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return set(), [f"cannot read {manifest}: {exc}"]

    manifests = [manifest]
    members = (root.get("workspace") or {}).get("members") or []
    for member in members:
        for path in sorted(project_dir.glob(member)):
            if (path / "Cargo.toml").is_file():
                manifests.append(path / "Cargo.toml")

    bins: set[str] = set()
    for path in manifests:
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"cannot read {path}: {exc}")
            continue
        package = (data.get("package") or {}).get("name")
        explicit = [b.get("name") for b in data.get("bin") or [] if isinstance(b, dict)]
        bins.update(n for n in explicit if n)
        if package and (path.parent / "src" / "main.rs").is_file():
            bins.add(package)
    return bins, problems


def check_build_metadata(template: dict, base_dir: Path) -> list[str]:
    problems: list[str] = []
    global_code_uri = global_function_props(template).get("CodeUri")
    bins_by_dir: dict[Path, set[str]] = {}
    for name, res in functions(template).items():
        props = res.get("Properties") or {}
        if props.get("PackageType") == "Image" or props.get("InlineCode") is not None:
            continue
        metadata = res.get("Metadata") or {}
        method = metadata.get("BuildMethod")
        if method != RUST_BUILD_METHOD:
            problems.append(
                f"{name}: Metadata.BuildMethod is {method!r}, expected {RUST_BUILD_METHOD!r}"
            )
            continue
        binary = (metadata.get("BuildProperties") or {}).get("Binary")
        if not isinstance(binary, str) or not binary:
            problems.append(f"{name}: Metadata.BuildProperties.Binary (the cargo bin name) is missing")
            continue
        code_uri = props.get("CodeUri", global_code_uri)
        if not is_local_path(code_uri):
            problems.append(f"{name}: CodeUri must be the local Cargo workspace directory, got {code_uri!r}")
            continue
        project_dir = (base_dir / code_uri).resolve()
        if not (project_dir / "Cargo.toml").is_file():
            problems.append(f"{name}: CodeUri {code_uri!r} -> {project_dir} has no Cargo.toml")
            continue
        if project_dir not in bins_by_dir:
            bins, read_problems = cargo_binaries(project_dir)
            problems.extend(read_problems)
            bins_by_dir[project_dir] = bins
        bins = bins_by_dir[project_dir]
        if bins and binary not in bins:
            problems.append(
                f"{name}: BuildProperties.Binary {binary!r} is not a binary of {project_dir} "
                f"(known: {', '.join(sorted(bins))})"
            )
    return problems


# ------------------------------------------------------------------------ expansion


def with_placeholder_code(template: dict) -> dict:
    """Copy of the template with local code locations replaced by s3:// placeholders."""
    out = copy.deepcopy(template)
    glob = global_function_props(out)
    if is_local_path(glob.get("CodeUri")):
        glob["CodeUri"] = "s3://placeholder-bucket/globals.zip"
    location_props = {
        "AWS::Serverless::Function": "CodeUri",
        "AWS::Serverless::LayerVersion": "ContentUri",
        "AWS::Serverless::Api": "DefinitionUri",
        "AWS::Serverless::HttpApi": "DefinitionUri",
        "AWS::Serverless::StateMachine": "DefinitionUri",
    }
    for name, res in (out.get("Resources") or {}).items():
        if not isinstance(res, dict):
            continue
        prop = location_props.get(res.get("Type"))
        props = res.get("Properties")
        if prop and isinstance(props, dict) and is_local_path(props.get(prop)):
            props[prop] = f"s3://placeholder-bucket/{name}.zip"
    return out


def parameter_values(template: dict) -> dict:
    """The parameters' defaults as CloudFormation hands them to the transform: a
    CommaDelimitedList as a list (SAM inlines some values, e.g. CORS origins)."""
    values = {}
    for name, p in (template.get("Parameters") or {}).items():
        if not isinstance(p, dict) or "Default" not in p:
            continue
        default = p["Default"]
        if p.get("Type") == "CommaDelimitedList" and isinstance(default, str):
            default = [v.strip() for v in default.split(",")]
        values[name] = default
    return values


def expand(template: dict) -> tuple[dict | None, list[str]]:
    try:
        expanded = transform(
            with_placeholder_code(template), parameter_values(template), EmptyManagedPolicyLoader()
        )
    except InvalidDocumentException as exc:
        causes = getattr(exc, "causes", None) or [exc]
        return None, [f"SAM translator: {getattr(c, 'message', str(c))}" for c in causes]
    except Exception as exc:  # the translator raises plain exceptions on some bad input
        return None, [f"SAM translator crashed ({type(exc).__name__}): {exc}"]
    return expanded, []


# -------------------------------------------------------------------------- cfn-lint


def run_cfn_lint(paths: list[Path]) -> tuple[bool, str]:
    """Run cfn-lint once over `paths`, in this interpreter's environment.

    Returns (has_errors, output). One process for all files: cfn-lint's start-up
    (loading its schemas) is most of its run time."""
    cmd = [
        sys.executable,
        "-c",
        "import sys; from cfnlint.runner import main; sys.exit(main())",
        "--format",
        "parseable",
        "--regions",
        *LINT_REGIONS,
        "--",
        *(str(p) for p in paths),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    output = (proc.stdout + proc.stderr).strip()
    # cfn-lint's exit code is a bit mask: 2 = errors, 4 = warnings, 8 = informational.
    # Anything else (1, >= 16, negative) means cfn-lint itself failed: count as error.
    rc = proc.returncode
    known_bits = 2 | 4 | 8
    has_errors = bool(rc & 2) or rc < 0 or (rc & ~known_bits) != 0
    return has_errors, "\n".join(f"  {line}" for line in output.splitlines())


# --------------------------------------------------------------------------- checkov


def find_checkov() -> str | None:
    explicit = os.environ.get("CHECKOV")
    if explicit:
        return explicit
    on_path = shutil.which("checkov")
    if on_path:
        return on_path
    venv = checkov_venv() / "bin" / "checkov"
    return str(venv) if venv.is_file() else None


def check_skip_reasons(template: dict) -> list[str]:
    """Every checkov skip in the template names a check and says why."""
    problems = []
    for name, res in (template.get("Resources") or {}).items():
        metadata = (res or {}).get("Metadata") or {}
        for skip in (metadata.get("checkov") or {}).get("skip") or []:
            if not isinstance(skip, dict) or not str(skip.get("id", "")).startswith("CKV"):
                problems.append(f"{name}: a checkov skip without a check id: {skip!r}")
            elif len(str(skip.get("comment") or "").strip()) < 10:
                problems.append(f"{name}: the checkov skip of {skip.get('id')} does not say why (comment)")
    return problems


def run_checkov(expanded_path: Path) -> tuple[list[str], str]:
    """(failed checks, summary line) of checkov on the expanded template."""
    checkov = find_checkov()
    if checkov is None:
        cannot_run(f"checkov is not installed; {CHECKOV_INSTALL_HINT}")
    cmd = [
        checkov,
        "-f",
        str(expanded_path),
        "--framework",
        "cloudformation",
        "--skip-download",
        "--quiet",
        "--compact",
        "--output",
        "json",
    ]
    # Its own environment: no PYTHONPATH or virtualenv of ours leaks in.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["BC_SKIP_MAPPING"] = "TRUE"
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        cannot_run(f"checkov ({checkov}) did not run: {exc}; {CHECKOV_INSTALL_HINT}")
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        cannot_run(
            f"checkov ({checkov}) exited {proc.returncode} without a JSON report:\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    reports = report if isinstance(report, list) else [report]
    failed: list[str] = []
    summary = {"passed": 0, "failed": 0, "skipped": 0}
    for r in reports:
        for k in summary:
            summary[k] += int((r.get("summary") or {}).get(k, 0))
        for c in (r.get("results") or {}).get("failed_checks") or []:
            failed.append(f"{c.get('check_id')} {c.get('resource')}: {c.get('check_name')}")
    line = (
        f"checkov {CHECKOV_VERSION}: {summary['passed']} passed, {summary['failed']} failed, "
        f"{summary['skipped']} skipped (with their reasons in the template)"
    )
    if summary["failed"] and not failed:
        failed.append(f"checkov counted {summary['failed']} failed check(s) it did not list")
    return failed, line


# ------------------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "template",
        nargs="?",
        default=str(Path(__file__).resolve().parent / "template.yaml"),
        help="SAM template (default: infra/template.yaml next to this script)",
    )
    parser.add_argument(
        "--base-dir",
        help="directory that relative CodeUri values are resolved against "
        "(default: the template's directory, as SAM does)",
    )
    parser.add_argument(
        "--no-checkov",
        action="store_true",
        help="leave out the checkov scan (SAM expansion and cfn-lint only)",
    )
    parser.add_argument(
        "--checkov-venv",
        action="store_true",
        help="print the virtualenv path and the checkov version .ci/run installs, and exit",
    )
    parser.add_argument(
        "--keep-expanded",
        metavar="PATH",
        help="also write the expanded CloudFormation JSON to PATH",
    )
    args = parser.parse_args()
    if args.checkov_venv:
        print(checkov_venv(), CHECKOV_VERSION)
        return EXIT_OK

    template_path = Path(args.template)
    try:
        text = template_path.read_text()
    except OSError as exc:
        cannot_run(f"cannot read template {template_path}: {exc}")
    base_dir = Path(args.base_dir) if args.base_dir else template_path.resolve().parent

    print(f"check_template: {template_path}")
    problems: list[str] = []

    try:
        template = yaml_parse(text)
    except Exception as exc:
        print(f"FAIL: {template_path} is not valid YAML: {exc}")
        return EXIT_TEMPLATE_PROBLEM
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        print(f"FAIL: {template_path} has no Resources mapping")
        return EXIT_TEMPLATE_PROBLEM

    problems += check_build_metadata(template, base_dir)
    problems += check_skip_reasons(template)

    expanded, translator_problems = expand(template)
    problems += translator_problems

    with tempfile.TemporaryDirectory(prefix="aftersales-cfn-") as tmp:
        lint_paths = [template_path]
        if expanded is not None:
            expanded_path = Path(tmp) / "expanded-template.json"
            expanded_path.write_text(json.dumps(expanded, indent=2, sort_keys=True))
            if args.keep_expanded:
                Path(args.keep_expanded).write_text(expanded_path.read_text())
            lint_paths.append(expanded_path)
            kinds: dict[str, int] = {}
            for res in expanded.get("Resources", {}).values():
                kinds[res.get("Type", "?")] = kinds.get(res.get("Type", "?"), 0) + 1
            summary = ", ".join(f"{n} {t}" for t, n in sorted(kinds.items()))
            print(f"expanded to {sum(kinds.values())} resources: {summary}")
        has_lint_errors, report = run_cfn_lint(lint_paths)
        checkov_failed: list[str] = []
        if expanded is not None and not args.no_checkov:
            checkov_failed, checkov_summary = run_checkov(expanded_path)
            print(checkov_summary)
    if report:
        print("cfn-lint findings:")
        print(report)
    if has_lint_errors:
        problems.append("cfn-lint reported errors (see its findings above)")
    problems += [f"checkov failed: {c}" for c in checkov_failed]

    if problems:
        print(f"FAIL: {len(problems)} problem(s) in {template_path}:")
        for problem in problems:
            print(f"  - {problem}")
        return EXIT_TEMPLATE_PROBLEM
    checked = "SAM expansion and cfn-lint" if args.no_checkov else "SAM expansion, cfn-lint and checkov"
    print(f"OK: {checked} found no errors")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
