#!/usr/bin/env python3
"""Provision the moto emulator started by scripts/aws.sh (run with its venv's python).

  aws_setup.py setup                 S3 bucket + Firehose delivery streams (idempotent)
  aws_setup.py auth-on  [--trusted-role NAME]... [--untrusted-role NAME]...
  aws_setup.py auth-off
  aws_setup.py assumed-roles         successful AssumeRole calls so far, as JSON lines

Common flags / env: --endpoint (AWS_ENDPOINT_URL, default http://127.0.0.1:$AWS_EMULATOR_PORT),
--region (AWS_REGION, us-west-2). Credentials come from the usual AWS_* env vars;
aws.sh defaults them to test/test.

auth-on exists because moto checks nothing by default: any access key, any
secret, any role ARN is accepted. It creates an IAM user whose access key the
worker must then use, one IAM role per --trusted-role (trust policy names that
user) and per --untrusted-role (trust policy names a different principal, so
sts:AssumeRole is answered 403 AccessDenied), then switches moto's IAM
enforcement on. It prints one JSON object with the credentials and role ARNs.
Enforcement is server-wide: afterwards every request (all services) must be
SigV4-signed with moto-issued credentials, so test/test gets
InvalidClientTokenId. auth-off switches it off again; IAM objects stay.
"""

import argparse
import json
import os
import sys
import urllib.request

import boto3
from botocore.exceptions import ClientError

# moto puts everything not tied to a moto-issued key in this account; role
# ARNs must use it too, or the assumed credentials land in an empty account.
ACCOUNT = "123456789012"


def client(args, service):
    return boto3.client(service, endpoint_url=args.endpoint, region_name=args.region)


def moto_api(args, path, body=b""):
    # text/plain: with a form content type Flask consumes the body and moto
    # reads an empty string (500 on reset-auth).
    req = urllib.request.Request(
        args.endpoint + path, data=body, method="POST",
        headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def setup(args):
    s3 = client(args, "s3")
    fh = client(args, "firehose")
    try:
        kw = {}
        if args.region != "us-east-1":  # us-east-1 rejects an explicit constraint
            kw["CreateBucketConfiguration"] = {"LocationConstraint": args.region}
        s3.create_bucket(Bucket=args.bucket, **kw)
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    bucket_arn = f"arn:aws:s3:::{args.bucket}"
    for name in args.streams.split():
        dest = {
            # moto never assumes this role; real Firehose would.
            "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/firehose-delivery",
            "BucketARN": bucket_arn,
            "Prefix": f"{name}/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
        }
        try:
            desc = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
            cur = desc["Destinations"][0].get("ExtendedS3DestinationDescription", {})
            if cur.get("BucketARN") == bucket_arn and cur.get("Prefix") == dest["Prefix"]:
                continue
            # Left over from a run with another AWS_BUCKET: moto deletes at once.
            fh.delete_delivery_stream(DeliveryStreamName=name, AllowForceDelete=True)
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
        fh.create_delivery_stream(
            DeliveryStreamName=name,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration=dest,
        )
    print(f"aws: bucket s3://{args.bucket}, delivery streams: {args.streams}", file=sys.stderr)


def auth_on(args):
    # Re-entrant: the IAM calls below use the caller's (test/test) credentials,
    # which enforcement from an earlier auth-on would refuse.
    moto_api(args, "/moto-api/reset-auth", b"inf")
    iam = client(args, "iam")
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{args.user}"
    try:
        iam.create_user(UserName=args.user)
    except ClientError as e:
        if e.response["Error"]["Code"] != "EntityAlreadyExists":
            raise
    allow_all = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    iam.put_user_policy(UserName=args.user, PolicyName="allow-all", PolicyDocument=allow_all)
    # moto only reveals a secret at creation: rotate so this run can print one
    # (IAM allows at most two keys per user).
    for k in iam.list_access_keys(UserName=args.user)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=args.user, AccessKeyId=k["AccessKeyId"])
    key = iam.create_access_key(UserName=args.user)["AccessKey"]

    roles = {}
    wanted = [(n, user_arn) for n in args.trusted_role]
    wanted += [(n, f"arn:aws:iam::{ACCOUNT}:user/not-the-worker") for n in args.untrusted_role]
    for name, principal in wanted:
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}]})
        try:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
        except ClientError as e:
            if e.response["Error"]["Code"] != "EntityAlreadyExists":
                raise
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust)
        # With enforcement on, assumed-role credentials carry only the role's
        # own policies; without this the trusted role could not PutRecordBatch.
        iam.put_role_policy(RoleName=name, PolicyName="allow-all", PolicyDocument=allow_all)
        roles[name] = f"arn:aws:iam::{ACCOUNT}:role/{name}"

    moto_api(args, "/moto-api/reset-auth", b"0")
    print(json.dumps({
        "access_key_id": key["AccessKeyId"],
        "secret_access_key": key["SecretAccessKey"],
        "user_arn": user_arn,
        "trusted_roles": {n: roles[n] for n in args.trusted_role},
        "untrusted_roles": {n: roles[n] for n in args.untrusted_role},
    }))


def auth_off(args):
    moto_api(args, "/moto-api/reset-auth", b"inf")
    print("aws: IAM enforcement off", file=sys.stderr)


def assumed_roles(args):
    with urllib.request.urlopen(args.endpoint + "/moto-api/data.json", timeout=10) as r:
        data = json.load(r)
    for role in data.get("sts", {}).get("AssumedRole", []):
        print(json.dumps({k: role.get(k) for k in
                          ("role_arn", "session_name", "external_id", "account_id", "access_key_id")}))


def main():
    port = os.environ.get("AWS_EMULATOR_PORT", "14566")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}"))
    p.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-west-2")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--bucket", default=os.environ.get("AWS_BUCKET", "firehose-worker-e2e"))
    s.add_argument("--streams", default=os.environ.get("FIREHOSE_STREAMS", "new_users pages everything"))
    a = sub.add_parser("auth-on")
    a.add_argument("--user", default="firehose-worker")
    a.add_argument("--trusted-role", action="append", default=[])
    a.add_argument("--untrusted-role", action="append", default=[])
    sub.add_parser("auth-off")
    sub.add_parser("assumed-roles")
    args = p.parse_args()
    args.endpoint = args.endpoint.rstrip("/")
    try:
        {"setup": setup, "auth-on": auth_on, "auth-off": auth_off, "assumed-roles": assumed_roles}[args.cmd](args)
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        hint = ""
        if code in ("InvalidClientTokenId", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "AccessDenied"):
            hint = " (IAM enforcement is on: run scripts/aws.sh auth-off first)"
        sys.exit(f"aws_setup {args.cmd}: {e}{hint}")


if __name__ == "__main__":
    main()
