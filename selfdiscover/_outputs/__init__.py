"""4. What discovery leaves behind: env files and the exec shim.

``envfile`` renders and atomically writes the dialects real readers decode
(public as ``selfdiscover._outputs.envfile``); ``_paths`` holds the default
locations and the rules readers apply to them; ``_shim`` is ``exec``/``write``:
signals during discovery, merging the environment, exec.
"""
