"""Reference trainables, one folder each: importable as ``jobs.<name>.trainable``.

What the jobs share lives beside them: :mod:`jobs.contract` (each job checked against kubetune's
``train``/``load_checkpoint``/``evaluate`` protocol), :mod:`jobs.settings` (settings declared once: config
parsing and flags), :mod:`jobs.smoke` (the command line), :mod:`jobs.torch_loop` (the PyTorch jobs' epoch loop
and checkpoints), :mod:`jobs.mnist` and :mod:`jobs.idx` (the numpy MNIST reader of both MNIST jobs),
:mod:`jobs.locations` (where data lives).
"""
