"""The demo: paysync's main job end to end against the local sandbox, one module per chapter.

:mod:`.story` lists the chapters in order and runs them (``run_demo``); :mod:`.runner`
holds what they share (``Section``, ``DemoContext``) and the runner; :mod:`.report` is the
closing chapter. Every call to the sandbox goes through its control client
(:class:`~paysync_dev.sandbox.control.SandboxControl`, ``ctx.sandbox``).
"""
