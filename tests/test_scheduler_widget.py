"""The "be the scheduler" panel, driven the way its buttons drive it."""

from __future__ import annotations

import pytest

from labkit.lessons.scheduler_widget import be_the_scheduler


async def play(panel, order):
    for actor in order:
        if actor in panel.session.enabled():  # the fenced worker finishes in one step
            await panel.click(actor)
    while panel.session.result is None:  # let whoever is left finish
        await panel.click(next(iter(panel.session.enabled())))


async def test_the_learner_can_produce_done_to_fail_against_the_naive_reconciler(lab):
    panel = await be_the_scheduler("naive", lab)
    assert "disabled" not in str(panel.buttons["reconciler"].disabled)
    await play(panel, ["reconciler", "worker", "worker"])
    assert "DONE -&gt; FAIL" in panel.banner.value or "DONE -> FAIL" in panel.banner.value
    assert all(b.disabled for b in panel.buttons.values())


@pytest.mark.parametrize("variant", ["watch", "lua", "epoch"])
async def test_the_same_moves_cannot_break_a_fix(lab, variant):
    panel = await be_the_scheduler(variant, lab)
    await play(panel, ["reconciler", "worker", "worker"])
    assert "every invariant holds" in panel.banner.value
    await panel.reset()
    assert panel.session.steps == [] and panel.session.result is None
    await panel.session.finish()


async def test_unknown_variant_is_a_clear_error(lab):
    with pytest.raises(ValueError, match="choose from"):
        await be_the_scheduler("optimistic", lab)


async def test_a_cell_that_deletes_every_key_cannot_take_the_race_away(lab):
    """Run All ends with `lab.cleanup()`: the first click sets the scenario up again."""
    panel = await be_the_scheduler("naive", lab)
    assert lab.cleanup() > 0  # the panel's keys were under lab's prefix, and are gone now
    await play(panel, ["worker", "reconciler", "worker", "reconciler", "reconciler", "reconciler"])
    assert "DONE -&gt; FAIL" in panel.banner.value or "DONE -> FAIL" in panel.banner.value
    assert "d1" in panel.session.steps[1].reply  # the reconciler saw d1 running, not an empty Redis


async def test_two_panels_do_not_share_keys(lab):
    first, second = await be_the_scheduler("naive", lab), await be_the_scheduler("naive", lab)
    assert first.target.prefix != second.target.prefix
    await first.session.finish()
    await second.session.finish()


async def test_the_state_table_names_keys_without_the_panel_prefix(lab):
    panel = await be_the_scheduler("naive", lab)
    table = panel.state_html.value
    assert "<code>doc:d1</code>" in table and panel.target.prefix not in table
    await panel.session.finish()
