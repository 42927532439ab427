"""Run by tests/test_load.py in a subprocess: a slow cuepy.load (or flatten, vet) interrupted by SIGINT."""

import gc
import signal
import sys
import threading
import time

import cuepy

if __name__ == "__main__":
    # A process started in the background by a shell without job control inherits SIGINT ignored,
    # and Python then installs no handler: Ctrl-C is what is tested, so take it as a terminal would.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    root, what = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "load"
    calls = {"load": cuepy.load, "flatten": cuepy.flatten, "vet": cuepy.vet}
    cuepy.compile("warm: 1").close()
    gc.collect()
    before = cuepy.live_handles()
    print("loading", flush=True)
    try:
        calls[what](root)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print(f"interrupted {time.monotonic()}", flush=True)
    # The evaluation stops at its next step (cuepy.stop): the call's thread ends soon after.
    while any(t.name == "cuepy-call" for t in threading.enumerate()):
        time.sleep(0.005)
    print(f"stopped {time.monotonic()}", flush=True)
    deadline = time.monotonic() + 120
    while cuepy.live_handles() > before and time.monotonic() < deadline:
        time.sleep(0.05)  # the call finishes in the background and frees its result
    gc.collect()
    print(f"leaked {cuepy.live_handles() - before}", flush=True)
