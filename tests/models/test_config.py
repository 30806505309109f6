import json

import pytest
from diffusers import DDPMScheduler

from humanmv.errors import ConfigError
from humanmv.models.config import CONFIGS, MVDiffConfig, get_config

# stabilityai/stable-diffusion-2-1 unet/config.json (the fields that fix the weights' shapes)
SD21_UNET = {
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "attention_head_dim": (5, 10, 20, 20),
    "cross_attention_dim": 1024,
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "use_linear_projection": True,
    "upcast_attention": True,
    "norm_num_groups": 32,
    "sample_size": 96,
}


def test_named_configs_exist_and_are_fresh_copies():
    assert set(CONFIGS) == {"tiny", "small", "face-tiny", "face-small", "sd21"}
    assert get_config("face-small").condition_channels == 15 and get_config("face-small").sample_size == 128
    a = get_config("small")
    a.sample_size = 128
    assert get_config("small").sample_size == 64


def test_unknown_name_lists_choices():
    with pytest.raises(ConfigError, match="tiny, small, face-tiny, face-small, sd21"):
        get_config("huge")


@pytest.mark.parametrize("name", ["tiny", "small", "sd21"])
def test_dict_round_trip_through_json(name):
    cfg = get_config(name)
    again = MVDiffConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_unknown_field_is_named():
    d = get_config("tiny").to_dict()
    d["colour"] = 3
    with pytest.raises(ConfigError, match="'colour'"):
        MVDiffConfig.from_dict(d)


@pytest.mark.parametrize(
    "change, words",
    [
        (dict(space="voxel"), "space"),
        (dict(prediction_type="noise"), "prediction_type"),
        (dict(attention_levels=(True,)), "attention_levels"),
        (dict(num_image_tokens=5), "num_image_tokens"),
        (dict(block_out_channels=(20, 40)), "norm_num_groups"),
        (dict(sample_size=33), "sample_size"),
    ],
)
def test_inconsistent_configs_are_refused(change, words):
    d = {**get_config("tiny").to_dict(), **change}
    with pytest.raises(ConfigError, match=words):
        MVDiffConfig.from_dict(d)


def test_small_configs_skip_attention_at_the_highest_resolution():
    for name in ("tiny", "small"):
        kw = get_config(name).unet_kwargs()
        assert kw["down_block_types"][0] == "DownBlock2D" and kw["up_block_types"][-1] == "UpBlock2D"
        assert kw["in_channels"] == 11 and kw["out_channels"] == 4
        assert kw["class_embed_type"] == "projection" and kw["projection_class_embeddings_input_dim"] == 12


def test_sd21_plain_kwargs_are_stable_diffusion_2_1s_unet():
    kw = get_config("sd21").unet_kwargs(plain=True)
    for key, value in SD21_UNET.items():
        assert kw[key] == value, key
    assert "class_embed_type" not in kw
    ours = get_config("sd21").unet_kwargs()
    assert ours["in_channels"] == 4 + 8


def test_scheduler_kwargs_build_a_ddpm_scheduler():
    sched = DDPMScheduler(**get_config("small").scheduler_kwargs())
    assert sched.config.prediction_type == "sample" and sched.config.num_train_timesteps == 1000
    sd = DDPMScheduler(**get_config("sd21").scheduler_kwargs())
    assert sd.config.beta_schedule == "scaled_linear" and sd.config.prediction_type == "v_prediction"
    assert not sd.config.clip_sample
