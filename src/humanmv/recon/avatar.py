"""`Avatar`: the 3D result of a generation (what avatar.glb holds) and its description,
avatar.json, from which the exact mesh can be rebuilt with the Anny body model.

    avatar.json
      format, version        "humanmv.avatar", 1
      body_model             {"name": "anny", "version": ...}
      mode                   "body" | "head"
      reconstruct            the reconstruct stage that made it ("none": the photo fit itself)
      params                 Anny parameters, full precision: pose_axis_angle {bone: [x, y, z]}
                             (radians), phenotype {name: v}, expression {action: v}
      placement              rotation (3x3), translation (3), centre (3), metres, world frame:
                             v = rotation (v_body - centre) + centre + translation
      mesh, texture          the files and their sizes (vertex and face counts, texture pixels)
      offsets                per-vertex surface offsets (a sidecar file) or null
      rig                    (version 2) the skin inside avatar.glb, or null for a static one
                             (`generate --no-rig`, or an avatar that is not an Anny body):
        file, skin           "avatar.glb", the glTF skin's name ("anny")
        bind                 {pose: "zero", vertices: V, formula}: the bind mesh is Anny with
                             params' phenotype and expression at pose zero, unplaced (world
                             frame; after the surface stage, with its offsets and shells);
                             `rebuild_bind_vertices` gives it
        joints, parents      Anny's bone names in the skin's joint order, parent indices (-1 root)
        influences           4: the largest 4 of Anny's skinning weights, renormalised
        pose                 the photo's pose: {clip: "photo", pose_axis_angle (= params'),
                             axes: "anny", placement: "placement", morph_target, morph_weight}
        photo_offset         {morph_target: "photo_offset", max_m}: the bind-space morph target
                             that makes the 4-influence skin at the photo's pose give exactly
                             the avatar mesh (Anny blends up to 9 bones)
        clips                {name: {keys, seconds, loop}}: the GLB's animations ("photo", "idle",
                             "walk", "wave", ...)

`rebuild_vertices(body, avatar_json)` gives avatar.glb's vertices as a viewer shows them with no
clip playing (the photo's pose; for a rigged GLB also its "photo" clip), to float32 rounding.
fit.json stays the photo's fit; avatar.json is the exported avatar, after any refit. Version 1
files (no "rig") read the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from humanmv.body.anny_model import PHENOTYPE_NAMES, POSE_BONES, AnnyBody, BodyParams
from humanmv.errors import ConfigError
from humanmv.render import Mesh

FORMAT, VERSION = "humanmv.avatar", 2


@dataclass
class Avatar:
    """The textured mesh a generation exports, and the body it was built from.

    mode: "body" or "head". mesh: world frame, with UVs and its (S, S, 3) texture.
    params: the Anny parameters (batch 1) of the mesh's body, None when the mesh is not an
    Anny body. rotation (3, 3), translation (3,), centre (3,): the rigid placement of that
    body: mesh.vertices = rotation (body(params).vertices - centre) + centre + translation.
    reconstruct: the reconstruct stage that made it ("none" = the photo fit's avatar).
    offsets: (V,) body-surface offsets along the bind normals (the surface stage) or None;
    shells: the garment/hair `shells.Shell`s (bind pose) whose posed vertices follow the body's
    in `mesh` (body first, then each shell in order), or None; shell_specs: the
    `shells.ShellSpec`s they were built from.
    """

    mode: str
    mesh: Mesh
    params: BodyParams | None
    rotation: torch.Tensor
    translation: torch.Tensor
    centre: torch.Tensor
    reconstruct: str = "none"
    offsets: torch.Tensor | None = None
    shells: list | None = None
    shell_specs: list | None = None

    @classmethod
    def of_fit(cls, mode: str, mesh: Mesh, params: BodyParams | None) -> "Avatar":
        """The photo fit's avatar: its body where the fit put it (identity placement)."""
        return cls(mode, mesh, params, torch.eye(3), torch.zeros(3), torch.zeros(3), "none")

    def with_texture(self, texture: torch.Tensor) -> "Avatar":
        return replace(self, mesh=replace(self.mesh, texture=texture))

    def dressed(self, surface) -> "Avatar":
        """This avatar with a `recon.surface.SurfaceResult`'s offset body and shells; the shells'
        own charts take the colour of the body beneath (hair: of the top of the head)."""
        from humanmv.shells.shell import dress_mesh

        V = surface.vertices.shape[0]
        body_mesh = replace(self.mesh, vertices=surface.vertices)
        mesh = dress_mesh(body_mesh, surface.shells, surface.posed)
        if mesh.texture is not None and surface.shells:
            mesh = replace(mesh, texture=_fill_charts(mesh, V, surface.shells))
        return replace(self, mesh=mesh, offsets=surface.offsets, shells=list(surface.shells),
                       shell_specs=list(surface.specs))

    def surface_json(self) -> dict:
        """surface.json: the offsets (V floats, m) and the shell specs, enough to rebuild the mesh."""
        return {"format": "humanmv.surface", "version": 1,
                "offsets": [round(float(v), 7) for v in self.offsets],
                "shells": [s.to_dict() for s in self.shell_specs or []]}

    def to_json(self, body: AnnyBody, files: dict[str, str] | None = None, rig: dict | None = None) -> dict:
        """The avatar.json content; `files` names the mesh and texture files written with it,
        `rig` is the "rig" section of a rigged avatar.glb (`rig_json`), None for a static one."""
        import anny

        files = files or {"mesh": "avatar.glb", "texture": "texture.png"}
        texture = self.mesh.texture
        return {
            "format": FORMAT,
            "version": VERSION,
            "body_model": {"name": "anny", "version": getattr(anny, "__version__", "unknown")},
            "mode": self.mode,
            "reconstruct": self.reconstruct,
            "params": None if self.params is None else params_to_json(self.params, body.expression_names),
            "placement": {"rotation": self.rotation.tolist(), "translation": self.translation.tolist(),
                          "centre": self.centre.tolist(),
                          "formula": "v = rotation (v_body - centre) + centre + translation"},
            "mesh": {"file": files["mesh"], "vertices": int(self.mesh.vertices.shape[0]),
                     "faces": int(self.mesh.faces.shape[0])},
            "texture": None if texture is None else {"file": files["texture"], "width": int(texture.shape[1]),
                                                     "height": int(texture.shape[0])},
            "offsets": None if self.offsets is None else {
                "file": files.get("surface", "surface.json"), "vertices": int(self.offsets.shape[0]),
                "max_m": float(self.offsets.max()), "min_m": float(self.offsets.min()),
                "along": "bind vertex normals, applied along the posed normals"},
            "shells": [s.describe() for s in self.shells or []],
            "rig": rig,
        }

    def rig_json(self, rig, body: AnnyBody, files: dict[str, str] | None = None) -> dict:
        """avatar.json's "rig" section for `rig` (a `humanmv.rig.Rig` built from this avatar)."""
        files = files or {"mesh": "avatar.glb"}
        described = rig.describe()
        return {
            "file": files["mesh"],
            "skin": "anny",
            "bind": {"pose": "zero", "vertices": described.pop("bind_vertices"),
                     "formula": "Anny(params.phenotype, params.expression, pose 0), world frame, unplaced"},
            **described,
            "pose": {"clip": "photo", "pose_axis_angle": params_to_json(self.params, body.expression_names)["pose_axis_angle"],
                     "axes": "anny", "placement": "placement", "morph_target": "photo_offset", "morph_weight": 1.0},
        }


def _fill_charts(mesh: Mesh, body_vertices: int, shells: list) -> torch.Tensor:
    """The texture with every charted shell's texels coloured from the nearest body vertex (hair
    shells: the median colour of the top of the head), so unseen sides start from the body's
    completion."""
    from humanmv.render.uv_space import rasterize_uv
    from humanmv.shells.labels import label_of
    from humanmv.shells.shell import CHART_OF_KIND

    tex = mesh.texture
    S = tex.shape[0]
    raster = rasterize_uv(mesh, S)
    body_faces = mesh.faces.shape[0] - sum(s.faces.shape[0] for s in shells)
    first = body_faces
    charted = torch.zeros(mesh.faces.shape[0], dtype=torch.bool)
    hair = torch.zeros_like(charted)
    for s in shells:
        n = s.faces.shape[0]
        if s.kind in CHART_OF_KIND:
            charted[first:first + n] = True
            hair[first:first + n] = s.label == label_of("hair")
        first += n
    fid = raster.face_id.clamp_min(0)
    todo = raster.mask & charted[fid]
    if not bool(todo.any()):
        return tex
    body_faces_t = mesh.faces[:body_faces]
    vert_uv = torch.zeros(body_vertices, dtype=torch.long)
    vert_uv[body_faces_t.reshape(-1)] = mesh.uv_faces[:body_faces].reshape(-1)
    uv = mesh.uvs[vert_uv]
    rows = ((1 - uv[:, 1]) * S).long().clamp(0, S - 1)
    cols = (uv[:, 0] * S).long().clamp(0, S - 1)
    colour = tex[rows, cols]  # (V, 3) the body's colour at each vertex
    body_v = mesh.vertices[:body_vertices]
    pos = raster.position[todo]
    nearest = torch.cat([torch.cdist(pos[i:i + 4096], body_v).argmin(1) for i in range(0, pos.shape[0], 4096)])
    fill = colour[nearest]
    head = torch.unique(body_faces_t[mesh.face_labels[:body_faces] == label_of("head")])
    y = body_v[head, 1]
    hair_colour = colour[head[y > float(y.max()) - 0.3 * float(y.max() - y.min())]].median(0).values
    fill = torch.where(hair[fid[todo]][:, None], hair_colour, fill)
    out = tex.clone()
    out[todo] = fill
    return out


def params_to_json(params: BodyParams, expression_names: list[str]) -> dict:
    """Body parameters (batch 1) at full float precision, keyed by bone / phenotype / action."""
    return {
        "pose_axis_angle": {b: r for b, r in zip(POSE_BONES, params.pose[0].tolist())},
        "phenotype": dict(zip(PHENOTYPE_NAMES, params.phenotype[0].tolist())),
        "expression": dict(zip(expression_names, params.expression[0].tolist())),
    }


def read_avatar_json(path: str | Path) -> dict:
    """avatar.json as a dict; ConfigError naming the file when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found; give the avatar.json written next to avatar.glb") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a humanmv avatar.json (no \"format\": \"{FORMAT}\")")
    if data.get("params") is None:
        raise ConfigError(f"{path}: describes no Anny body (params is null); its mesh cannot be rebuilt")
    return data


def rebuild_vertices(body: AnnyBody, data: dict, surface: dict | None = None) -> torch.Tensor:
    """(V, 3) float32 world vertices of the avatar an avatar.json dict describes; with the
    surface.json dict of a surface-stage avatar, its offset body followed by its shells."""
    params = BodyParams.from_dict(data["params"], body.expression_names)
    placement = data["placement"]
    R = torch.tensor(placement["rotation"], dtype=torch.float32)
    t = torch.tensor(placement["translation"], dtype=torch.float32)
    c = torch.tensor(placement["centre"], dtype=torch.float32)
    with torch.no_grad():
        verts = body(params).vertices[0].float().cpu()
    out = _dressed(body, params, verts, surface, posed=True)
    return (out - c) @ R.T + c + t


def rebuild_bind_vertices(body: AnnyBody, data: dict, surface: dict | None = None) -> torch.Tensor:
    """(V, 3) float32 world vertices of the rig's bind mesh an avatar.json dict describes: the
    body at pose zero, unplaced (avatar.glb's POSITION, before its seams are split); with the
    surface.json dict, the offset body followed by the shells at the bind pose."""
    params = BodyParams.from_dict(data["params"], body.expression_names)
    params.pose = torch.zeros_like(params.pose)
    with torch.no_grad():
        verts = body(params).vertices[0].float().cpu()
    return _dressed(body, params, verts, surface, posed=False)


def _dressed(body: AnnyBody, params: BodyParams, verts: torch.Tensor, surface: dict | None,
             posed: bool) -> torch.Tensor:
    """`verts` (V, 3) of `params`' body (unplaced) with surface.json's offsets along their
    normals, followed by its shells (posed at `params`' pose, or at the bind pose)."""
    if surface is None:
        return verts
    from humanmv.render.mesh import vertex_normals
    from humanmv.shells.garments import ShellSpec, build_shells
    from humanmv.shells.shell import BindBody, ShellPoser

    offsets = torch.tensor(surface["offsets"], dtype=torch.float32)
    out = [verts + offsets[:, None] * vertex_normals(verts, body.faces)]
    shells = build_shells(BindBody.of(body, params), [ShellSpec.from_dict(s) for s in surface["shells"]])
    poser = ShellPoser(body, params)
    out += [poser.pose(s, params.pose[0]).float() if posed else s.vertices.float() for s in shells]
    return torch.cat(out)
