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
