"""Try cloud mode on this machine, without AWS: ``./dev cloud-demo``.

Starts moto's S3 as a real HTTP server on loopback, makes a bucket, uploads the
built-in demo song under ``input/``, runs ``process_audio.py`` with the
variables the EventBridge rule gives a Fargate task (``S3_BUCKET``, ``S3_KEY``)
plus the endpoint and throwaway credentials, lists ``processed/`` with each
object's metadata, saves the result to ``output/cloud-demo_8d.mp3`` and stops
the server. The worker's JSON log lines pass through on stderr. Exit code: the
worker's.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

from surroundyou.run.demo import write_demo  # the project is installed in .venv (./dev)

ROOT = Path(__file__).resolve().parent.parent

BUCKET = "surroundyou-demo"
KEY = "input/demo song.wav"
REGION = "us-east-1"
SAVED = Path("output") / "cloud-demo_8d.mp3"


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server would log every request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    aws = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "demo",  # moto accepts any credentials; these reach nothing real
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_REGION": REGION,
    }
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"],
        )
        s3.create_bucket(Bucket=BUCKET)
        with tempfile.TemporaryDirectory(prefix="surroundyou-cloud-demo-") as work:
            s3.upload_file(str(write_demo(Path(work) / "demo.wav")), BUCKET, KEY)
        print(f"moto S3 at {endpoint}: uploaded s3://{BUCKET}/{KEY}; running the worker as a Fargate task would")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
        env.update(aws, S3_BUCKET=BUCKET, S3_KEY=KEY)
        code = subprocess.run([sys.executable, str(ROOT / "process_audio.py")], env=env, check=False).returncode
        print(f"worker exit code {code}; s3://{BUCKET}/processed/ holds:")
        for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix="processed/").get("Contents", []):
            head = s3.head_object(Bucket=BUCKET, Key=obj["Key"])
            print(f"  {obj['Key']}  {obj['Size']} bytes  {head['ContentType']}  metadata {head['Metadata']}")
            SAVED.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(BUCKET, obj["Key"], str(SAVED))
            print(f"saved to {SAVED}")
        return code
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
