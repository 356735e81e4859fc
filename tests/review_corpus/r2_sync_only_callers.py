# expect: R2:6 R1:7
"""R2 positive: made async "to fit", but every caller is sync, so the work never runs."""
import json


async def save_settings(path: str, settings: dict) -> None:  # want: R2
    with open(path, "w") as handle:  # want: R1
        json.dump(settings, handle)


def on_apply(settings: dict) -> None:
    save_settings("settings.json", settings)


def on_reset() -> None:
    save_settings("settings.json", {})
