import math

import torch

from humanmv.body.photo_light import MIN_AMBIENT, PhotoLight, fit_photo_light, sphere_directions


def _scene(light: PhotoLight, n: int = 3000, seed: int = 0):
    """Normals facing a camera on +z, 6 albedo groups, colours = albedo * shading."""
    gen = torch.Generator().manual_seed(seed)
    normal = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen), dim=-1)
    normal[:, 2] = normal[:, 2].abs()
    group = torch.randint(0, 6, (n,), generator=gen)
    albedo = torch.rand(6, 3, generator=gen) * 0.7 + 0.2
    colour = albedo[group] * light.shading(normal)[:, None]
    return colour, normal, group


def test_fit_recovers_a_key_light_and_its_ambient():
    truth = PhotoLight(torch.nn.functional.normalize(torch.tensor([0.6, 0.5, 0.6]), dim=0), 0.5)
    colour, normal, group = _scene(truth)
    got = fit_photo_light(colour, normal, group, torch.ones(len(group), dtype=torch.bool))
    angle = math.degrees(math.acos(float(got.direction @ truth.direction)))
    assert angle < 12 and abs(got.ambient - 0.5) <= 0.1


def test_flat_light_stays_flat_and_light_never_comes_from_below():
    colour, normal, group = _scene(PhotoLight.flat())
    use = torch.ones(len(group), dtype=torch.bool)
    assert fit_photo_light(colour, normal, group, use).ambient == 1.0
    below = PhotoLight(torch.tensor([0.0, -1.0, 0.0]), 0.2)
    colour, normal, group = _scene(below, seed=1)
    got = fit_photo_light(colour, normal, group, use)
    assert float(got.direction[1]) >= 0 and got.ambient >= MIN_AMBIENT


def test_too_few_texels_give_flat_light_and_directions_are_unit():
    colour, normal, group = _scene(PhotoLight.flat(), n=50)
    assert fit_photo_light(colour, normal, group, torch.ones(50, dtype=torch.bool)).ambient == 1.0
    d = sphere_directions(100)
    assert torch.allclose(d.norm(dim=-1), torch.ones(100), atol=1e-5)
