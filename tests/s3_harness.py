"""Start a real S3-compatible server process (moto's server mode) on a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

ACCESS_KEY = "qingling-test"
SECRET_KEY = "qingling-test-secret"
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """``python -m moto.server`` as a child process; ``endpoint`` once started."""

    def __init__(self):
        self.process: subprocess.Popen | None = None
        self.endpoint = ""

    def start(self, timeout: float = 30.0) -> str:
        port = _free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.process.returncode}")
            try:
                urllib.request.urlopen(self.endpoint + "/", timeout=1).close()
                return self.endpoint
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto server did not answer in time")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY)

    def settings(self, bucket: str) -> dict:
        """App settings that put photos in ``bucket`` of this server."""
        return {"PHOTO_STORAGE": "s3", "S3_BUCKET": bucket, "S3_ENDPOINT_URL": self.endpoint, "S3_REGION": REGION,
                "S3_ACCESS_KEY_ID": ACCESS_KEY, "S3_SECRET_ACCESS_KEY": SECRET_KEY}
