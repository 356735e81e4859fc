# expect: none
"""R5 negative: infinite loops outside worker or recovery code are not this rule's business."""
import itertools


def spinner_frames():
    frames = itertools.cycle("|/-\\")
    result = []
    while True:
        result.append(next(frames))
        if len(result) > 8:
            return result


def fibonacci_table(limit: int) -> list[int]:
    a, b, out = 0, 1, []
    while True:
        if a > limit:
            return out
        out.append(a)
        a, b = b, a + b


def animate(draw) -> None:
    while True:
        draw()
