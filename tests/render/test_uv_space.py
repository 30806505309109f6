import torch

from humanmv.body.anny_model import BodyParams
from humanmv.render.uv_space import rasterize_uv


def test_uv_raster_positions_are_barycentric_interpolations(body):
    verts = body(BodyParams.neutral()).vertices[0]
    raster = rasterize_uv(body.mesh(verts), 256)
    assert raster.face_id.shape == (256, 256) and raster.mask.any()
    assert 0.3 < float(raster.mask.float().mean()) < 0.9
    rows, cols = torch.nonzero(raster.mask, as_tuple=True)
    pick = torch.linspace(0, len(rows) - 1, 500).long()
    for r, c in zip(rows[pick].tolist(), cols[pick].tolist()):
        f = int(raster.face_id[r, c])
        tri = verts[body.faces[f]]
        uv = body.uvs[body.uv_faces[f]]
        # The texel centre in uv (row 0 = v 1), and its barycentric coordinates in the triangle.
        p = torch.tensor([(c + 0.5) / 256, 1 - (r + 0.5) / 256])
        T = torch.stack([uv[0] - uv[2], uv[1] - uv[2]], 1)
        l01 = torch.linalg.solve(T, p - uv[2])
        bary = torch.cat([l01, 1 - l01.sum(0, keepdim=True)])
        assert (bary > -0.05).all()  # the texel centre lies in its triangle
        expected = (bary[:, None] * tri).sum(0)
        assert torch.allclose(raster.position[r, c], expected, atol=2e-3)
    normals = raster.normal[raster.mask]
    assert torch.allclose(normals.norm(dim=-1), torch.ones(len(normals)), atol=1e-3)


def test_texel_views_see_the_front_of_the_body_and_not_its_back(body, renderer):
    from humanmv.cameras import orbit_cameras_around
    from humanmv.render.uv_space import texel_views

    verts = body(BodyParams.neutral()).vertices[0].detach()
    mesh = body.mesh(verts)
    raster = rasterize_uv(mesh, 128)
    pos, nrm = raster.position[raster.mask], raster.normal[raster.mask]
    cam = orbit_cameras_around(verts, [0.0], 0.0, fov_deg=30.0, width=128, height=128)  # looks at the front (+Z)
    views = texel_views(mesh, pos, nrm, cam, renderer)
    assert views.visible.shape == views.facing.shape == (1, len(pos))
    front, back = nrm[:, 2] > 0.5, nrm[:, 2] < -0.5
    # The depth test alone lets through back points within the tolerance of the front (thin
    # hands, feet): the facing cosine tells them apart.
    assert float(views.visible[0][back].float().mean()) < 0.1
    assert not (views.visible[0] & (views.facing[0] > 0))[back].any()
    assert float(views.visible[0][front].float().mean()) > 0.6
    # Sampling the camera's own depth at visible points gives their depth.
    depth = renderer.render(mesh, cam, outputs=("depth",)).depth
    _, z = cam.project(pos)
    seen = views.visible[0]
    assert torch.allclose(views.sample(depth[:, None], "nearest")[0, seen, 0], z[0, seen], atol=0.02)


def test_texel_views_of_a_smaller_view_stop_at_its_own_size(renderer):
    """Two cameras alike but for width: points past the narrow view's own width (on the canvas,
    not in its image) are not seen by it; elsewhere both see the same points."""
    from humanmv.cameras import Cameras, orbit_cameras
    from humanmv.render.uv_space import texel_views
    from render_meshes import uv_sphere

    sphere = uv_sphere(0.5, 32, 64)
    pos = sphere.vertices
    nrm = torch.nn.functional.normalize(pos, dim=-1)
    one = orbit_cameras([30.0], 10.0, distance=2.5, width=64, height=64)
    cams = Cameras.with_sizes(one.K.repeat(2, 1, 1), one.world_to_cam.repeat(2, 1, 1), [(64, 64), (40, 64)])
    views = texel_views(sphere, pos, nrm, cams, renderer)
    px, _ = cams.project(pos)
    inside = px[1, :, 0] <= 40
    assert views.visible[0].sum() > 200 and (views.visible[0] & ~inside).sum() > 50
    assert torch.equal(views.visible[1], views.visible[0] & inside)
    assert torch.equal(texel_views(sphere, pos, nrm, cams[[0]], renderer).visible[0], views.visible[0])
