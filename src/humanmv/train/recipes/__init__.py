"""The built-in training recipes, one module each, registered with `train.recipe` on import:

    mvdiff        the multi-view diffusion generator (`humanmv train mvdiff`)
    pose_lifter   2D keypoints -> 3D layout, the body fit's limb depth (`humanmv train pose-lifter`)
    gan3d         3DHumanGAN on single synthetic views (`humanmv train gan3d`; no shipped model yet)
"""
