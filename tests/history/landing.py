"""The landing area as the history's World changes it: local files, or S3 objects.

Both take the same actions (deliver, read back, delete, withdraw a day) and give the
oracle the final landing files as a local folder (S3: downloaded to a temporary one).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any


class LocalArea:
    """Landing files under ``root`` (``$PLATFORM_DATA_DIR/landing``)."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, dataset: str, day: str, name: str) -> Path:
        """A landing file's path."""
        return self.root / dataset / f"dt={day}" / name

    def locator(self, dataset: str, day: str, name: str) -> dict[str, str]:
        """How a child finds the file to rewrite (its path)."""
        return {"path": str(self.path(dataset, day, name))}

    def write(self, dataset: str, day: str, name: str, data: bytes) -> None:
        """Deliver ``data`` as one file, atomically (a temporary hidden name, then rename)."""
        target = self.path(dataset, day, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{name}.part")
        tmp.write_bytes(data)
        os.replace(tmp, target)

    def read(self, dataset: str, day: str, name: str) -> bytes | None:
        """The file's content, None if it is not there."""
        target = self.path(dataset, day, name)
        return target.read_bytes() if target.exists() else None

    def delete(self, dataset: str, day: str, name: str) -> None:
        """Remove one file (gone already: fine)."""
        self.path(dataset, day, name).unlink(missing_ok=True)

    def withdraw(self, dataset: str, day: str) -> None:
        """Remove a whole day."""
        shutil.rmtree(self.root / dataset / f"dt={day}", ignore_errors=True)

    def final(self, scratch: Path) -> Path:
        """The landing files as a local folder, for the oracle."""
        return self.root


class S3Area:
    """Landing objects under ``s3://<bucket>/<root>/<dataset>/dt=<day>/``."""

    def __init__(self, client: Any, bucket: str, root: str):
        self.client, self.bucket, self.root = client, bucket, root.strip("/")

    def key(self, dataset: str, day: str, name: str) -> str:
        """A landing object's key."""
        return f"{self.root}/{dataset}/dt={day}/{name}"

    def locator(self, dataset: str, day: str, name: str) -> dict[str, str]:
        """How a child finds the object to replace (bucket and key)."""
        return {"bucket": self.bucket, "path": self.key(dataset, day, name)}

    def write(self, dataset: str, day: str, name: str, data: bytes) -> None:
        """Deliver ``data`` as one object (a PUT is atomic: no temporary name needed)."""
        self.client.put_object(Bucket=self.bucket, Key=self.key(dataset, day, name), Body=data)

    def read(self, dataset: str, day: str, name: str) -> bytes | None:
        """The object's content, None if there is none."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(dataset, day, name))
        except self.client.exceptions.NoSuchKey:
            return None
        return response["Body"].read()

    def delete(self, dataset: str, day: str, name: str) -> None:
        """Delete one object (absent: fine, as S3 answers)."""
        self.client.delete_object(Bucket=self.bucket, Key=self.key(dataset, day, name))

    def _keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def withdraw(self, dataset: str, day: str) -> None:
        """Delete every object of the day."""
        for key in self._keys(f"{self.root}/{dataset}/dt={day}/"):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def final(self, scratch: Path) -> Path:
        """Download every landing object into a fresh folder under ``scratch``; its path."""
        folder = scratch / "final-landing"
        shutil.rmtree(folder, ignore_errors=True)
        for key in self._keys(f"{self.root}/"):
            target = folder / key[len(self.root) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            target.write_bytes(body.read())
        return folder
