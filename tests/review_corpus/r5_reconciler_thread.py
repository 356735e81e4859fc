# expect: R5:7
"""R5 positive: a recovery loop in a thread, paced by sleep, with no stop."""
import time


def reconcile_forever(reconcile) -> None:
    while True:  # want: R5
        try:
            reconcile()
        except Exception as exc:  # noqa: BLE001
            print("reconcile failed:", exc)
        time.sleep(5)
