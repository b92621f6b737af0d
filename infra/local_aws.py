#!/usr/bin/env python3
"""Creates what the functions need on a local AWS emulator (LocalStack or moto
server): the table, the evidence bucket, the refund queue and its DLQ, read
from infra/template.yaml so they are shaped exactly as deployed. Run it again
at will: what exists is left as it is.

Usage:
  AWS_ENDPOINT_URL=http://127.0.0.1:4566 python3 infra/local_aws.py [options]

It prints the names, URLs and environment variables to use, and writes them
for the two ways of running the functions locally:
  data/sam-local-env.json  for `sam local start-api` (--env-vars; samconfig.toml
                           names this file), with the endpoint as a container
                           sees it (host.docker.internal instead of 127.0.0.1);
  data/local-aws.env       KEY=VALUE lines for `cargo lambda watch --env-file`.
Both carry AUTH_DEV_SECRET (the second also AUTH_MODE=token): the runner's development secret
(AFTERSALES_DEV_SECRET, or data/dev-secret, created like the runner does when
missing), so tokens from `cargo run -p aftersales-local -- token ...` work.

Needs boto3 and PyYAML (both come with `pip install 'moto[server]'`).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

try:
    import boto3
    import yaml
    from botocore.exceptions import ClientError
except ImportError as e:  # pragma: no cover - depends on the machine
    sys.exit(f"local_aws: {e.name} is missing: pip install boto3 pyyaml (moto[server] brings both)")

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"

# The template's resources this script creates, by logical id.
TABLE = "AftersalesTable"
BUCKET = "EvidenceBucket"
QUEUE = "RefundQueue"
DLQ = "RefundDLQ"


# ------------------------------------------------------------------ template
class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (!Ref, !Sub, ...) as their long form."""


def _cfn_tag(loader: CfnLoader, suffix: str, node: yaml.Node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


class Template:
    """The parts of the template this script reads, with `Ref` and `Fn::Sub`
    resolved the way a stack named `stack` would (parameters at their defaults)."""

    def __init__(self, path: Path, stack: str, region: str, account: str):
        self.doc = yaml.load(path.read_text(), Loader=CfnLoader)
        self.names = {"AWS::StackName": stack, "AWS::Region": region, "AWS::AccountId": account}
        for name, p in self.doc.get("Parameters", {}).items():
            if "Default" in p:
                self.names[name] = p["Default"]

    def properties(self, logical_id: str) -> dict:
        try:
            return self.doc["Resources"][logical_id]["Properties"]
        except KeyError:
            sys.exit(f"local_aws: {TEMPLATE.name} has no resource {logical_id} with Properties")

    def resolve(self, value):
        if isinstance(value, dict) and len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref" and arg in self.names:
                return self.resolve(self.names[arg])
            if key == "Fn::Sub" and isinstance(arg, str):
                out = arg
                for name, v in self.names.items():
                    out = out.replace("${" + name + "}", str(v))
                return out
        return value


# ---------------------------------------------------------------- resources
def create_table(ddb, name: str, props: dict) -> None:
    try:
        ddb.describe_table(TableName=name)
        print(f"table {name}: exists")
        return
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    args = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if "ProvisionedThroughput" in props:
        args["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    if "GlobalSecondaryIndexes" in props:
        args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    stream = props.get("StreamSpecification")
    if stream:
        args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    ddb.create_table(**args)
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        ddb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )
    # Encryption and point-in-time recovery mean nothing on an emulator.
    print(f"table {name}: created")


def create_bucket(s3, name: str, props: dict, region: str, template: Template) -> None:
    try:
        s3.head_bucket(Bucket=name)
        print(f"bucket {name}: exists")
    except ClientError:
        args = {"Bucket": name}
        if region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**args)
        print(f"bucket {name}: created")
    # CORS, so a browser can PUT evidence to the presigned URLs as in the cloud.
    rules = []
    for rule in props.get("CorsConfiguration", {}).get("CorsRules", []):
        origins = template.resolve(rule["AllowedOrigins"])
        if isinstance(origins, str):
            origins = [o.strip() for o in origins.split(",")]
        rules.append({
            "AllowedMethods": rule["AllowedMethods"],
            "AllowedOrigins": origins,
            "AllowedHeaders": rule.get("AllowedHeaders", []),
            "MaxAgeSeconds": rule.get("MaxAge", 0),
        })
    if rules:
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})


def create_queue(sqs, name: str, props: dict, dead_letter_arn: str | None = None) -> tuple[str, str]:
    attributes = {
        key: str(props[key])
        for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds")
        if key in props
    }
    redrive = props.get("RedrivePolicy")
    if redrive and dead_letter_arn:
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": str(redrive["maxReceiveCount"])}
        )
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        print(f"queue {name}: exists")
    except ClientError as e:
        if "NonExistentQueue" not in e.response["Error"]["Code"]:
            raise
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        print(f"queue {name}: created")
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


# ------------------------------------------------------------------- output
def dev_secret(data: Path) -> str:
    """The runner's development secret (local/src/main.rs `dev_secret`)."""
    from_env = os.environ.get("AFTERSALES_DEV_SECRET")
    if from_env:
        return from_env
    path = data / "dev-secret"
    if path.exists() and path.read_text().strip():
        return path.read_text().strip()
    data.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    path.write_text(secret)
    print(f"made a development secret in {path} (the runner uses it too)")
    return secret


def as_seen_from_containers(endpoint: str) -> str:
    """sam local runs functions in Docker, where 127.0.0.1 is the container."""
    parts = urlsplit(endpoint)
    if parts.hostname in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
        netloc = "host.docker.internal" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return endpoint


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"),
                    help="emulator URL (default: $AWS_ENDPOINT_URL)")
    ap.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    ap.add_argument("--stack-name", default="aftersales-local", help="names resources as this stack would")
    ap.add_argument("--data", type=Path, default=ROOT / "data", help="the runner's data folder (dev-secret)")
    ap.add_argument("--sam-env-vars", type=Path, help="default: <data>/sam-local-env.json")
    ap.add_argument("--env-file", type=Path, help="default: <data>/local-aws.env")
    args = ap.parse_args()
    if not args.endpoint:
        ap.error("set AWS_ENDPOINT_URL (or --endpoint) to the LocalStack or moto server URL")
    endpoint = args.endpoint.rstrip("/")

    # Emulators take any credentials; real ones are never needed here.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    session = boto3.session.Session(region_name=args.region)
    client = lambda service: session.client(service, endpoint_url=endpoint)  # noqa: E731

    deadline = time.monotonic() + 30
    while True:  # LocalStack takes a few seconds to come up
        try:
            account = client("sts").get_caller_identity()["Account"]
            break
        except Exception as e:  # noqa: BLE001 - any failure means "not up yet"
            if time.monotonic() > deadline:
                sys.exit(f"local_aws: no emulator answers at {endpoint}: {e}")
            time.sleep(1)

    t = Template(TEMPLATE, args.stack_name, args.region, account)
    table = f"{args.stack_name}-table"  # the template lets CloudFormation name it
    bucket = t.resolve(t.properties(BUCKET)["BucketName"])
    create_table(client("dynamodb"), table, t.properties(TABLE))
    create_bucket(client("s3"), bucket, t.properties(BUCKET), args.region, t)
    sqs = client("sqs")
    _, dlq_arn = create_queue(sqs, t.resolve(t.properties(DLQ)["QueueName"]), t.properties(DLQ))
    queue_url, _ = create_queue(sqs, t.resolve(t.properties(QUEUE)["QueueName"]), t.properties(QUEUE), dlq_arn)

    env = {
        "TABLE_NAME": table,
        "EVIDENCE_BUCKET": bucket,
        "REFUND_QUEUE_URL": queue_url,
        "AUTH_DEV_SECRET": dev_secret(args.data),
    }
    sam_env = args.sam_env_vars or args.data / "sam-local-env.json"
    env_file = args.env_file or args.data / "local-aws.env"
    for path in (sam_env, env_file):
        path.parent.mkdir(parents=True, exist_ok=True)
    sam_vars = dict(
        env,
        REFUND_QUEUE_URL=as_seen_from_containers(queue_url),
        AWS_ENDPOINT_URL=as_seen_from_containers(endpoint),
    )
    sam_env.write_text(json.dumps({"Parameters": sam_vars}, indent=2) + "\n")
    # sam local takes the mode from the AuthMode parameter (samconfig.toml:
    # token for start-api, gateway for invoking events/); cargo lambda watch
    # has no template, so its file says it.
    host_vars = dict(
        env,
        AUTH_MODE="token",
        AWS_ENDPOINT_URL=endpoint,
        AWS_REGION=args.region,
        AWS_ACCESS_KEY_ID=os.environ["AWS_ACCESS_KEY_ID"],
        AWS_SECRET_ACCESS_KEY=os.environ["AWS_SECRET_ACCESS_KEY"],
    )
    env_file.write_text("".join(f"{k}={v}\n" for k, v in host_vars.items()))

    print()
    for key in ("TABLE_NAME", "EVIDENCE_BUCKET", "REFUND_QUEUE_URL", "AWS_ENDPOINT_URL", "AWS_REGION"):
        print(f"export {key}={host_vars[key]}")
    print(f"refund DLQ: {dlq_arn}")
    print(f"sam local start-api --env-vars {sam_env}   (endpoint {sam_vars['AWS_ENDPOINT_URL']})")
    print(f"cargo lambda watch --env-file {env_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
