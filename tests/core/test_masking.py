"""Masked hints show a vendor's public prefix and the last four characters, nothing else."""

import pytest

from apps.core.masking import mask_secret


@pytest.mark.parametrize(
    "value, hint",
    [
        ("sk-abcdefghijklmnop1234", "sk-…1234"),
        ("ghp_abcdefghijklmnop6789", "ghp_…6789"),
        ("whsec_abcdefghijklmnop42", "whsec_…op42"),
        ("col_ab12cd34_abcdefghijklmnopqrstu", "col_…rstu"),
    ],
)
def test_a_known_vendor_prefix_is_kept_in_the_hint(value, hint):
    assert mask_secret(value) == hint


@pytest.mark.parametrize("value", ["RN_q9cVx3bLrT0aWmKhJk", "Ab-cdEfghijklmnopKhJk", "abcde_fghijklmnopKhJk"])
def test_a_random_secret_that_happens_to_start_with_letters_and_a_dash_shows_only_its_tail(value):
    assert mask_secret(value) == "…KhJk"


def test_short_values_show_nothing():
    assert mask_secret("short") == "••••" and mask_secret("") == ""
