"""2. Where the task is learned, and how it is asked.

One module per source behind one small interface (``_ladder``: ``Source``,
``Context``, the ``Ladder`` that tries them in rounds): ``introspection``
(the agent's ``/v1`` API at an explicit URL, localhost or the bridge
gateway), ``tmde`` (task metadata endpoint v4, v3), ``metadata_file``, and
the opt-in ``imds`` (EC2 instance metadata, for the host address).

Their shared transport: ``_http`` (one guarded request: caps, watchdog, no
redirects), ``_timing`` (the ``Timeout`` and ``Retry`` values) and
``_retry`` (one deadline, one backoff formula), and ``_agent`` (the typed
introspection client, ``AgentClient``).

Importing this package imports nothing else: ``import selfdiscover`` reaches
``_timing`` through it.
"""
