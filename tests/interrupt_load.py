"""Run by tests/test_load.py in a subprocess: a slow cuepy.load interrupted by SIGINT."""

import gc
import sys
import time

import cuepy

if __name__ == "__main__":
    root = sys.argv[1]
    cuepy.compile("warm: 1").close()
    gc.collect()
    before = cuepy.live_handles()
    print("loading", flush=True)
    try:
        cuepy.load(root)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print(f"interrupted {time.monotonic()}", flush=True)
    deadline = time.monotonic() + 120
    while cuepy.live_handles() > before and time.monotonic() < deadline:
        time.sleep(0.05)  # the call finishes in the background and frees its result
    gc.collect()
    print(f"leaked {cuepy.live_handles() - before}", flush=True)
