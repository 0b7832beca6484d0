"""The "gRPC service I would write myself" of bench/run: grpcio (Debian's python3-grpcio) serving the same
batches from numpy memmaps of DIR/raw, over a Unix socket.

    /usr/bin/python3 bench/grpc_service.py DIR unix:/path/to.sock [--threads N]

One unary method, /bench.Bench/Take, with raw bytes both ways (no generated code): the request is the
little-endian int64 row ids; the response is a 16-byte header (rows, caption bytes as int64) then the
images (rows * C*H*W bytes), the labels (int64), the caption offsets (rows + 1 int64) and caption bytes.
"""
from __future__ import annotations

import json
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np

METHOD = "/bench.Bench/Take"


class Rows:
    """The raw files of DIR/raw, memory-mapped."""

    def __init__(self, root: Path):
        raw = root / "raw"
        meta = json.loads((raw / "meta.json").read_text())
        self.rows = int(meta["rows"])
        shape = tuple(meta["shape"])
        self.images = np.memmap(raw / "images.u8", np.uint8, "r", shape=(self.rows, *shape))
        self.labels = np.memmap(raw / "labels.i64", np.int64, "r", shape=(self.rows,))
        self.cap_off = np.memmap(raw / "captions.off", np.int64, "r", shape=(self.rows + 1,))
        self.cap = np.memmap(raw / "captions.bin", np.uint8, "r")

    def take(self, ids: np.ndarray) -> bytes:
        starts, ends = self.cap_off[ids], self.cap_off[ids + 1]
        lens = ends - starts
        offsets = np.zeros(len(ids) + 1, np.int64)
        np.cumsum(lens, out=offsets[1:])
        cap = b"".join(self.cap[s:e].tobytes() for s, e in zip(starts, ends))
        head = np.array([len(ids), len(cap)], np.int64).tobytes()
        return b"".join((head, self.images[ids].tobytes(), self.labels[ids].tobytes(), offsets.tobytes(), cap))


def parse(reply: bytes, shape: tuple[int, ...]):
    """The response as (images uint8 [n, *shape], labels int64 [n], captions list[str]); zero-copy views."""
    n, ncap = np.frombuffer(reply, np.int64, 2)
    n = int(n)
    at = 16
    size = n * int(np.prod(shape))
    images = np.frombuffer(reply, np.uint8, size, at).reshape(n, *shape)
    at += size
    labels = np.frombuffer(reply, np.int64, n, at)
    at += 8 * n
    offsets = np.frombuffer(reply, np.int64, n + 1, at)
    at += 8 * (n + 1)
    cap = reply[at:at + int(ncap)]
    captions = [cap[offsets[i]:offsets[i + 1]].decode() for i in range(n)]
    return images, labels, captions


def main() -> None:
    root, address = Path(sys.argv[1]), sys.argv[2]
    threads = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--threads" else 4
    rows = Rows(root)

    def take(request: bytes, context) -> bytes:
        ids = np.frombuffer(request, np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= rows.rows):
            context.abort(grpc.StatusCode.OUT_OF_RANGE, "row id out of range")
        return rows.take(ids)

    handler = grpc.method_handlers_generic_handler("bench.Bench", {"Take": grpc.unary_unary_rpc_method_handler(take)})
    opts = [("grpc.max_send_message_length", 256 << 20), ("grpc.max_receive_message_length", 256 << 20)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=threads), handlers=[handler], options=opts)
    server.add_insecure_port(address)
    server.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print("ready", flush=True)
    done.wait()
    server.stop(0)


if __name__ == "__main__":
    main()
