"""Why a model predicts what it does: permutation importance, integrated gradients, occlusion, reconstruction errors.

`kproto.explain.explainer.explain_run` picks the method for the run's kind of input; `attributions` and
`importance` hold the computations (pure functions of a model and arrays), `render` how the results look.
"""
