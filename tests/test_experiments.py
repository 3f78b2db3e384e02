import importlib

import pytest

from experiments.common import EXPERIMENTS, PROFILES


@pytest.mark.parametrize("exp", EXPERIMENTS)
@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_builds_a_complete_config(exp, profile):
    config = importlib.import_module(f"experiments.{exp}").get_config(profile)
    assert config.experiment == exp and config.profile == profile
    assert set(config.keys()) >= {"data", "model", "train", "eval"}
    assert config.data.path == f"data/{exp}-{profile}.h5"


@pytest.mark.parametrize("exp", EXPERIMENTS)
def test_unknown_profile_lists_the_valid_ones(exp):
    with pytest.raises(ValueError, match="smoke, quick, paper"):
        importlib.import_module(f"experiments.{exp}").get_config("huge")
