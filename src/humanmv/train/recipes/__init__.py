"""The built-in training recipes, one module each, registered with `train.recipe` on import:

    mvdiff   the multi-view diffusion generator (`humanmv train mvdiff`)
"""
