# expect: R4:10
"""R4 positive: heartbeat and a long subprocess in the same sync loop."""
import subprocess


def convert_all(jobs, send_heartbeat, stop) -> None:
    for job in jobs:
        if stop.is_set():
            break
        send_heartbeat()  # want: R4
        subprocess.run(["ffmpeg", "-i", job, job + ".mp4"], check=True)
