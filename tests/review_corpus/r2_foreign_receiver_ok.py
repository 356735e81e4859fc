# expect: R2:9
"""R2: a method name shared with a library object's sync method is not ours to flag."""
import asyncio

import ipywidgets as widgets


class Door:
    async def click(self) -> None:
        await asyncio.sleep(0)


def press(door: Door) -> None:
    door.click()  # flagged at the def: its only caller is sync


button = widgets.Button(description="Save")
button.click()  # ipywidgets' own sync click(): not the coroutine above
