"""Deep Dream: slides 34-35 as code, then everything Deep Dream adds around them.

(The package is `deepdream`, not `dream`, so that it is never confused with the function `sd.dream`.)

objectives.py  L(h) and dL/dh: one neuron h_ij² (slide 34), a channel, a layer, a class, a guide
ascent.py      one step: forward, objective, backward, normalise, i_mn <- i_mn + eta·dL/di_mn (slide 35)
normalize.py   the gradient's size: mean |g| (original), std, Laplacian pyramid; optional smoothing
octaves.py     several scales with the original's detail re-injection
tiling.py      big pictures tile by tile, in bounded memory
options.py     every setting of a dream and its range: DreamOptions
plan.py        every decision that needs the net and the picture, made once before the first step
loop.py        the whole dream (`sd.dream`): feed back, repeat, with progress
lecture.py     the slides and nothing else (`scratchdream lecture`)
zoom.py        the zoom animation (`scratchdream zoom`)
The command line around them is scratchdream/cli/.
"""
