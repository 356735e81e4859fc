# expect: none
"""R4 negative: a one-off heartbeat next to blocking work, outside any loop (R1 still applies)."""
import subprocess


def register_worker(r, worker_id: str) -> None:
    r.set(f"heartbeat:{worker_id}", "1", px=3000)
    subprocess.run(["true"], check=True)


def renew_all(leases) -> None:
    for lease in leases:
        lease.renew(ttl=10)
