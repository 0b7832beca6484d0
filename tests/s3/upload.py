#!/usr/bin/python3
"""Uploads a local directory tree to s3://BUCKET/PREFIX with boto3 (a real S3 client), creating the bucket.

    upload.py ENDPOINT BUCKET PREFIX DIR [--delete KEY]...

Credentials from the standard AWS_* environment. Prints one line per object; exit 0 when all succeeded.
"""
import os
import sys

import boto3
from botocore.config import Config


def main(argv: list[str]) -> int:
    if len(argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    endpoint, bucket, prefix, root = argv[1:5]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"),
                      config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                    retries={"max_attempts": 2}))
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    prefix = prefix.strip("/")
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            key = f"{prefix}/{rel}" if prefix else rel
            with open(path, "rb") as f:
                s3.put_object(Bucket=bucket, Key=key, Body=f.read())
            print(key)
    rest = argv[5:]
    for i in range(0, len(rest) - 1, 2):
        if rest[i] == "--delete":
            s3.delete_object(Bucket=bucket, Key=rest[i + 1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
